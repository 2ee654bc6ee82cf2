"""Run the CUDA kernels of ``backends/cuda/`` on the CPU, for machines without a GPU.

How: the ``.cu`` files are plain C++17 once ``common.cuh`` defines the CUDA keywords
away (it does when ``__CUDACC__`` is not defined), makes ``blockIdx``/``threadIdx``/
``blockDim``/``gridDim`` host variables, and stands ``__half`` in with the compiler's
``_Float16``. A generated translation unit includes them and, for every name
expression that ``backends.cupy_kernels`` compiles on the GPU (``im2col<float>``,
``max_pool2d<__half, unsigned char>``, ...), exports two C functions:

``nyang_signature_<k>()``  one character per kernel parameter: ``q`` for ``long long``,
                          the pointee's NumPy dtype character for a pointer
                          (``e`` float16, ``f`` float32, ``d`` float64, ``B`` uint8,
                          ``i`` int32), taken from the instantiated kernel's type
``nyang_launch_<k>(args, blocks, threads)``
                          a launch: ``args`` as ``cuLaunchKernel`` takes them (one
                          pointer per parameter, to the parameter's value); every thread
                          of the ``<<<blocks, threads>>>`` grid runs in turn, each one
                          its grid-stride loop

The library is built once by the host C++ compiler (``$CXX``, else ``g++``/``c++``/
``clang++``) and cached under a hash of the sources, the generated code and the
compiler. :func:`host_cupy_kernels` then loads a private copy of
``backends/cupy_kernels.py`` (with stand-in ``cupy`` modules when CuPy is not installed)
whose single CuPy launch call, ``_run``, is replaced by :meth:`HostKernels.run`: the
NumPy arrays' data pointers and the ``numpy.int64`` scalars go to the kernels exactly
as CuPy would pass them, so the whole path (shapes, strides, layouts, argument order,
dtypes, launch shape, name expressions) runs here, all but CuPy and the GPU.
"""
import ctypes
import hashlib
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CUDA_DIR = ROOT / "backends" / "cuda"
CUPY_KERNELS = ROOT / "backends" / "cupy_kernels.py"
DTYPES = ("float16", "float32", "float64")

_HOST_HELPERS = r"""
#include <cstddef>
#include <type_traits>
#include <utility>

namespace nyang_host {

template <typename P> struct code { static constexpr char value = '?'; };
template <> struct code<long long> { static constexpr char value = 'q'; };
template <typename E> struct pointee { static constexpr char value = '?'; };
#ifdef NYANG_HAS_HALF
template <> struct pointee<__half> { static constexpr char value = 'e'; };
#endif
template <> struct pointee<float> { static constexpr char value = 'f'; };
template <> struct pointee<double> { static constexpr char value = 'd'; };
template <> struct pointee<unsigned char> { static constexpr char value = 'B'; };
template <> struct pointee<int> { static constexpr char value = 'i'; };
template <typename E> struct code<E*> {
    static constexpr char value = pointee<typename std::remove_cv<E>::type>::value;
};

template <typename... P> const char* signature(void (*)(P...)) {
    static const char text[] = {code<P>::value..., '\0'};
    return text;
}

template <typename... P, std::size_t... I>
void call(void (*kernel)(P...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<P*>(args[I])...);
}

// Every thread of a <<<blocks, threads>>> launch, one after the other.
template <typename... P> void launch(void (*kernel)(P...), void** args, unsigned blocks, unsigned threads) {
    gridDim = nyang_dim3{blocks, 1, 1};
    blockDim = nyang_dim3{threads, 1, 1};
    for (unsigned b = 0; b < blocks; ++b) {
        for (unsigned t = 0; t < threads; ++t) {
            blockIdx = nyang_dim3{b, 0, 0};
            threadIdx = nyang_dim3{t, 0, 0};
            call(kernel, args, std::index_sequence_for<P...>{});
        }
    }
}

}  // namespace nyang_host

extern "C" void nyang_divmod(long long a, long long b, long long* q, long long* r) {
    nyang::divmod(a, b, *q, *r);
}

extern "C" int nyang_has_half() {
#ifdef NYANG_HAS_HALF
    return 1;
#else
    return 0;
#endif
}
"""


def load_cupy_kernels():
    """A private copy of ``backends/cupy_kernels.py`` (module name
    ``nyang_host_cupy_kernels``), imported with stand-in ``cupy``/``cupyx`` modules when
    CuPy is not installed. Nothing is left in ``sys.modules``."""
    saved = {name: sys.modules.get(name)
             for name in ("cupy", "cupyx", "cupyx.scipy", "cupyx.scipy.special")}
    try:
        import cupy  # noqa: F401
        import cupyx.scipy.special  # noqa: F401
    except ImportError:
        for name in saved:
            sys.modules[name] = types.ModuleType(name)
    try:
        spec = importlib.util.spec_from_file_location("nyang_host_cupy_kernels", CUPY_KERNELS)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
    return module


def wrapper_source(names):
    """The C++ translation unit exporting a signature and a launcher per name expression."""
    lines = ['#include "common.cuh"']
    lines += [f'#include "{name}"' for name in ("conv.cu", "pool.cu")]
    lines.append(_HOST_HELPERS)
    for k, name in enumerate(names):
        half = "__half" in name
        if half:
            lines.append("#ifdef NYANG_HAS_HALF")
        lines.append(f'extern "C" const char* nyang_signature_{k}() '
                     f'{{ return nyang_host::signature(&{name}); }}')
        lines.append(f'extern "C" void nyang_launch_{k}(void** args, unsigned blocks, unsigned threads) '
                     f'{{ nyang_host::launch(&{name}, args, blocks, threads); }}')
        if half:
            lines.append("#endif")
    return "\n".join(lines) + "\n"


def find_cxx():
    """The host C++ compiler: ``$CXX``, else the first of g++, c++, clang++ on PATH."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            return path
    return None


def _compiler_version(compiler):
    return subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout


def _sources_digest(*extra):
    digest = hashlib.sha256()
    for path in sorted(CUDA_DIR.glob("*.cu*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(str(item).encode() + b"\0")
    return digest.hexdigest()[:20]


def _build(command_for, cache_dir, stem, source_text, suffix, extra):
    """Compile ``source_text`` (written next to the output) unless a build of the same
    sources, text and command is cached; returns (output path, compiler log)."""
    cache_dir = pathlib.Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _sources_digest(source_text, command_for("SRC", "OUT"), *extra)
    out = cache_dir / f"{stem}-{key}{suffix}"
    log = cache_dir / f"{stem}-{key}.log"
    if out.exists():
        return out, log.read_text() if log.exists() else ""
    src = cache_dir / f"{stem}-{key}.src{'.cu' if suffix != '.so' else '.cpp'}"
    src.write_text(source_text)
    tmp = cache_dir / f"{stem}-{key}.{os.getpid()}.tmp{suffix}"
    result = subprocess.run(command_for(str(src), str(tmp)), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"compiling {src} failed:\n{' '.join(command_for(str(src), str(tmp)))}\n"
                           f"{result.stdout}{result.stderr}")
    log.write_text(result.stdout + result.stderr)
    os.replace(tmp, out)  # atomic: a concurrent run sees the whole file or none
    for stale in cache_dir.iterdir():  # this stem's builds of older sources
        match = re.fullmatch(rf"{re.escape(stem)}-([0-9a-f]{{20}})\.(log|so|o|src\.cpp|src\.cu)", stale.name)
        if match and match.group(1) != key:
            stale.unlink(missing_ok=True)
    return out, result.stdout + result.stderr


class HostKernels:
    """The kernels compiled for the CPU: :meth:`run` has ``cupy_kernels._run``'s signature."""

    def __init__(self, library_path, names):
        self.library = ctypes.CDLL(str(library_path))
        self.has_half = bool(self.library.nyang_has_half())
        self.signatures, self._launchers = {}, {}
        self.launches = []  # (name, blocks, threads, total) of every launch, for the tests
        for k, name in enumerate(names):
            if "__half" in name and not self.has_half:
                continue
            signature = getattr(self.library, f"nyang_signature_{k}")
            signature.restype = ctypes.c_char_p
            self.signatures[name] = signature().decode()
            launcher = getattr(self.library, f"nyang_launch_{k}")
            launcher.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_uint]
            launcher.restype = None
            self._launchers[name] = launcher

    def divmod(self, a, b):
        """``nyang::divmod`` of common.cuh (the index arithmetic, 32- or 64-bit path)."""
        q, r = ctypes.c_longlong(), ctypes.c_longlong()
        self.library.nyang_divmod(ctypes.c_longlong(a), ctypes.c_longlong(b), ctypes.byref(q), ctypes.byref(r))
        return q.value, r.value

    def run(self, name, dtype_name, device, blocks, threads, args):
        """Launch kernel ``name`` with CuPy's argument conventions: NumPy arrays for
        pointers, ``numpy.int64`` for ``long long``; each is checked against the kernel's
        parameter types before the call."""
        signature = self.signatures[name]
        if len(args) != len(signature):
            raise TypeError(f"{name} takes {len(signature)} arguments ({signature}), got {len(args)}")
        values = []
        for position, (code, arg) in enumerate(zip(signature, args)):
            if code == "q":
                if type(arg) is not np.int64:
                    raise TypeError(f"{name}: argument {position} must be numpy.int64, got {type(arg)}")
                values.append(ctypes.c_longlong(int(arg)))
            else:
                if not isinstance(arg, np.ndarray) or arg.dtype.char != code:
                    raise TypeError(f"{name}: argument {position} must be an array of dtype "
                                    f"{np.dtype(code)}, got {getattr(arg, 'dtype', type(arg))}")
                values.append(ctypes.c_void_p(arg.ctypes.data))
        pointers = (ctypes.c_void_p * len(values))(*(ctypes.addressof(v) for v in values))
        self.launches.append((name, blocks, threads, int(args[[i for i, c in enumerate(signature)
                                                               if c == "q"][0]])))
        self._launchers[name](pointers, blocks, threads)


class _HostDevice:
    """What ``cupy_kernels`` asks of a ``cupy.cuda.Device``: an ``id``, and ``with``."""

    id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def build_host_kernels(cache_dir, names):
    """Compile (or take from ``cache_dir``) the host library for ``names``."""
    compiler = find_cxx()
    if compiler is None:
        raise FileNotFoundError("no host C++ compiler (set CXX, or install g++)")

    sanitize = os.environ.get("NYANG_HOST_SANITIZE")  # e.g. "address" (run under LD_PRELOAD=libasan)

    def command(src, out):
        flags = [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g"] if sanitize else []
        return [compiler, "-std=c++17", "-O2", "-fPIC", "-shared", "-ffp-contract=off", *flags,
                f"-I{CUDA_DIR}", "-o", out, src]

    stem = "nyang-host-kernels" + (f"-{sanitize}" if sanitize else "")
    path, _ = _build(command, cache_dir, stem, wrapper_source(names), ".so", (_compiler_version(compiler),))
    return HostKernels(path, names)


def host_cupy_kernels(cache_dir, multiprocessors=1):
    """A private ``cupy_kernels`` whose launches run on the CPU; ``module.host`` is the
    :class:`HostKernels`. ``multiprocessors`` sets the launch shape's cap (blocks =
    32 per multiprocessor), small so that the grid-stride loops go round."""
    module = load_cupy_kernels()
    names = [n for dtype in DTYPES for n in module.name_expressions(dtype)]
    host = build_host_kernels(cache_dir, names)
    module.host = host
    module._run = host.run
    module._multiprocessors = lambda device_id: multiprocessors
    module._device = lambda array: _HostDevice()
    return module


def nvcc_instances_source(module):
    """A .cu file forcing every name expression's instantiation (what NVRTC does for
    ``name_expressions``), for compiling with nvcc."""
    names = [n for dtype in DTYPES for n in module.name_expressions(dtype)]
    body = ",\n".join(f"    reinterpret_cast<const void*>(&{name})" for name in names)
    return ("#define NYANG_HALF 1\n" + module.source()
            + f"\n\nextern const void* const nyang_instances[] = {{\n{body}\n}};\n")


def compile_with_nvcc(cache_dir, module, arch="sm_90"):
    """``nvcc -arch=<arch> -std=c++17 -c`` of every instantiation (ptxas verbose); returns
    (object path, compiler log). Raises FileNotFoundError without nvcc."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise FileNotFoundError("nvcc is not on PATH")

    def command(src, out):
        return [nvcc, f"-arch={arch}", "-std=c++17", "-c", "-Xptxas", "-v", "-o", out, src]

    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    return _build(command, cache_dir, f"nyang-nvcc-{arch}", nvcc_instances_source(module), ".o",
                  (version,))


# ---------------------------------------------------------------- NVRTC (what CuPy compiles with)

NVRTC_CANDIDATES = ("libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12")


def find_nvrtc():
    """A loadable NVRTC library: ``$NYANG_NVRTC`` (a path), else the CUDA toolkit's
    (``$CUDA_PATH``, /usr/local/cuda) or the ``nvidia-cuda-nvrtc`` wheel's next to an
    installed CuPy; None when there is none."""
    paths = [os.environ["NYANG_NVRTC"]] if os.environ.get("NYANG_NVRTC") else []
    roots = [os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    for root in filter(None, roots):
        paths += [os.path.join(root, lib, name) for lib in ("lib64", "lib") for name in NVRTC_CANDIDATES]
    for entry in sys.path:
        paths += [os.path.join(entry, "nvidia", "cu13", "lib", "libnvrtc.so.13"),
                  os.path.join(entry, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so.12")]
    for path in paths:
        if os.path.exists(path):
            try:
                # NVRTC dlopens its builtins by name: load the ones beside it first
                for builtins in sorted(pathlib.Path(path).parent.glob("libnvrtc-builtins.so.*")):
                    ctypes.CDLL(str(builtins), mode=ctypes.RTLD_GLOBAL)
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


def compile_with_nvrtc(nvrtc, source_text, options, names):
    """Compile like ``cupy.RawModule(code=source_text, options=options,
    name_expressions=names)`` does: returns ({name: lowered (mangled) name}, log,
    size of the compiled binary). Raises RuntimeError with the log on failure."""
    program = ctypes.c_void_p()

    def check(status, what):
        if status != 0:
            nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
            raise RuntimeError(f"{what}: {nvrtc.nvrtcGetErrorString(status).decode()}")

    check(nvrtc.nvrtcCreateProgram(ctypes.byref(program), source_text.encode(), b"kern.cu", 0, None, None),
          "nvrtcCreateProgram")
    try:
        for name in names:
            check(nvrtc.nvrtcAddNameExpression(program, name.encode()), "nvrtcAddNameExpression")
        encoded = [o.encode() for o in options]
        status = nvrtc.nvrtcCompileProgram(program, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(program, buffer)
        log = buffer.value.decode(errors="replace")
        if status != 0:
            raise RuntimeError(f"NVRTC failed with options {options}:\n{log}")
        lowered = {}
        for name in names:
            pointer = ctypes.c_char_p()
            check(nvrtc.nvrtcGetLoweredName(program, name.encode(), ctypes.byref(pointer)), "nvrtcGetLoweredName")
            lowered[name] = pointer.value.decode()
        binary = ctypes.c_size_t()
        check(nvrtc.nvrtcGetCUBINSize(program, ctypes.byref(binary)), "nvrtcGetCUBINSize")
        return lowered, log, binary.value
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))

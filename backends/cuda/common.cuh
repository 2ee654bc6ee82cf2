// Shared by every kernel in backends/cuda/: the element types, index arithmetic and
// the grid-stride loop.
//
// Conventions (backends/cupy_kernels.py and tests/backends/cuda_host.py rely on them):
// - Each kernel is a `__global__` grid-stride loop over `total` elements that calls a
//   `__host__ __device__` body `<name>_at(index, ...)` for ONE 64-bit linear index.
//   Bodies write only element `index` of their output (gathers, no atomics), so any
//   order of indices gives the same bits.
// - Kernel parameters are only pointers and `long long` scalars (CuPy passes numpy.int64
//   as long long; the host harness checks the signature).
// - Strides are in elements and may be anything (channels-last views, broadcasts).
// - Templates on T = __half, float, double; __half loads and stores convert to float and
//   all arithmetic (comparisons, sums, divisions) happens in acc<T>::type.
//
// The same files compile three ways:
// - NVRTC (CuPy's RawModule, the real thing) and nvcc: __CUDACC__ is defined. NVRTC has
//   no standard library headers, so nothing here includes one on the device side.
//   cuda_fp16.h is included only when NYANG_HALF is defined (the float16 module), so
//   float32/float64 never depend on finding it.
// - A plain C++17 host compiler (tests/backends/cuda_host.py): the CUDA keywords are
//   defined away, blockIdx/threadIdx/... become host variables the harness sets while it
//   plays every (block, thread) of a launch in turn, and __half is a stand-in around the
//   compiler's _Float16 (IEEE binary16, round-to-nearest-even conversions, like
//   __float2half_rn). Without _Float16 the half instantiations are left out.
#pragma once

#ifdef __CUDACC__

#ifdef NYANG_HALF
#include <cuda_fp16.h>
#define NYANG_HAS_HALF 1
#endif

#else  // ------------------------------------------------ host stand-ins (tests only)

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct nyang_dim3 {
    unsigned int x, y, z;
};
// Set by the host harness before each simulated thread runs.
inline nyang_dim3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0}, blockDim{1, 1, 1}, gridDim{1, 1, 1};

#if defined(__FLT16_MAX__)
struct __half {
    _Float16 value;
};
inline float __half2float(__half h) { return static_cast<float>(h.value); }
inline __half __float2half_rn(float f) { return __half{static_cast<_Float16>(f)}; }
#define NYANG_HAS_HALF 1
#endif

#endif  // __CUDACC__

// Threads per block of every launch (backends/cupy_kernels.py launches with this many).
#define NYANG_THREADS 256

namespace nyang {

// ------------------------------------------------------------ element types

template <typename T> struct acc { typedef T type; };  // float -> float, double -> double
#ifdef NYANG_HAS_HALF
template <> struct acc<__half> { typedef float type; };
#endif

template <typename T> __host__ __device__ __forceinline__ typename acc<T>::type to_acc(T v) { return v; }
template <typename T> __host__ __device__ __forceinline__ T from_acc(typename acc<T>::type v) { return v; }
#ifdef NYANG_HAS_HALF
template <> __host__ __device__ __forceinline__ float to_acc<__half>(__half v) { return __half2float(v); }
template <> __host__ __device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
#endif

template <typename F> __host__ __device__ __forceinline__ F negative_infinity();
template <> __host__ __device__ __forceinline__ float negative_infinity<float>() {
#ifdef __CUDA_ARCH__
    return __int_as_float((int)0xff800000);
#else
    return -__builtin_huge_valf();
#endif
}
template <> __host__ __device__ __forceinline__ double negative_infinity<double>() {
#ifdef __CUDA_ARCH__
    return __longlong_as_double(0xfff0000000000000ULL);
#else
    return -__builtin_huge_val();
#endif
}

template <typename F> __host__ __device__ __forceinline__ bool is_nan(F v) { return v != v; }

// ------------------------------------------------------------ geometry

// A convolution or pooling window: kernel size, stride, padding, dilation along (h, w).
struct Window {
    long long kh, kw, sh, sw, ph, pw, dh, dw;
};

// Strides (in elements) of an (N, C, H, W) array.
struct Strides4 {
    long long n, c, h, w;
};

// ------------------------------------------------------------ index arithmetic

// q = a / b, r = a % b for a >= 0, b > 0. Uses 32-bit division when both fit, several
// times cheaper on the GPU than the 64-bit division routine; the result is the same.
__host__ __device__ __forceinline__ void divmod(long long a, long long b, long long& q, long long& r) {
    if (((unsigned long long)a | (unsigned long long)b) >> 32 == 0) {
        const unsigned int ua = (unsigned int)a, ub = (unsigned int)b;
        const unsigned int uq = ua / ub;
        q = uq;
        r = ua - uq * ub;
    } else {
        q = a / b;
        r = a - q * b;
    }
}

// (n, c, h, w) of the linear index of a (N, C, H, W) array laid out channels-last in
// memory ((n, h, w, c) order) when channels_last, else in (n, c, h, w) order.
__host__ __device__ __forceinline__ void unravel_nchw(long long index, long long C, long long H, long long W,
                                                      long long channels_last, long long& n, long long& c,
                                                      long long& h, long long& w) {
    long long rest;
    if (channels_last) {
        divmod(index, C, rest, c);
        divmod(rest, W, rest, w);
        divmod(rest, H, n, h);
    } else {
        divmod(index, W, rest, w);
        divmod(rest, H, rest, h);
        divmod(rest, C, n, c);
    }
}

// Whether the padded position p reaches window o = p / stride at its offset 0, that is
// p % stride == 0 and o < count (the gathers: which window reads this input element).
__host__ __device__ __forceinline__ bool window_at(long long p, long long stride, long long count, long long& o) {
    long long r;
    divmod(p, stride, o, r);
    return r == 0 && o < count;
}

// ------------------------------------------------------------ grid-stride loop

__device__ __forceinline__ long long first_index() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long index_step() { return (long long)gridDim.x * blockDim.x; }

}  // namespace nyang

"""The API reference, read from the code itself so it cannot go stale.

:func:`build_index` imports the modules of nyang and lists every public class and
function once, with its signature, docstring, the tensor shapes its docstring
mentions, and (for classes) its own public methods. A name goes under the most
specific module of ``MODULES`` (the documented surface, in reading order) that
exports it and whose name prefixes where it is defined (``relu`` under
``nyang.functional`` though ``nyang`` re-exports it). Every other module of the
package is found by walking it, so a new module shows up by itself; what only such a
module defines (the autograd ``Function`` of each op, helpers) is listed under it.
"""
import importlib
import inspect
import pkgutil
import re

MODULES = (
    "nyang", "nyang.nn", "nyang.nn.init", "nyang.nn.utils", "nyang.functional", "nyang.optim",
    "nyang.optim.lr_scheduler", "nyang.data", "nyang.data.datasets", "nyang.data.transforms", "nyang.training",
    "nyang.callbacks", "nyang.inference", "nyang.metrics", "nyang.checkpoint", "nyang.models", "nyang.amp",
    "nyang.autograd", "nyang.viz", "nyang.gradcheck", "nyang.random", "nyang.device", "nyang.cuda",
    "nyang.compare", "nyang.torch_bridge",
)

_DIM = re.compile(r"[A-Z](_\w+)?|\*|\d+|\w*features|num_\w+|\w+ ?[*/+-] ?\w+")
_TUPLE = re.compile(r"\(([^()]*,[^()]*)\)")


def discovered_modules():
    """The dotted names of every module in the nyang package without a private
    (``_``-prefixed) part, sorted."""
    import nyang

    return sorted(info.name for info in pkgutil.walk_packages(nyang.__path__, "nyang.")
                  if not any(part.startswith("_") for part in info.name.split(".")))


def public_modules():
    """``MODULES`` in order, then the other discovered modules; those that do not
    import here (``nyang.compare`` needs torch) are left out."""
    found = []
    for name in list(MODULES) + [m for m in discovered_modules() if m not in MODULES]:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


def exported(module):
    """``{name: object}`` of the public classes and functions ``module`` offers: its
    ``__all__``; else, for a package, every public one it holds (re-exports included);
    else the ones it defines itself (not what it imports to use)."""
    names = getattr(module, "__all__", None)
    if names is None:
        package = hasattr(module, "__path__")
        names = [n for n, obj in vars(module).items() if not n.startswith("_")
                 and (package or getattr(obj, "__module__", None) == module.__name__)]
    out = {}
    for name in names:
        obj = getattr(module, name, None)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", "").startswith("nyang"):
            out[name] = obj
    return out


def signature(obj):
    """``obj``'s call signature as text, ``(...)`` when inspect cannot tell."""
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def shapes(doc):
    """The tensor shapes a docstring mentions, such as ``(N, C, H, W)`` or ``(*, in_features)``."""
    found = []
    for match in _TUPLE.finditer(doc or ""):
        if match.start() > 0 and (doc[match.start() - 1].isalnum() or doc[match.start() - 1] == "_"):
            continue  # a call such as max(0, 1 - v), not a shape
        dims = [d.strip() for d in match.group(1).split(",")]
        dims = [d for d in dims if d] if dims[-1] == "" else dims
        if dims and all(_DIM.fullmatch(d) for d in dims) and any(not d.isdigit() for d in dims):
            text = f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"
            if text not in found:
                found.append(text)
    return found


def _members(cls):
    """(name, signature, docstring) of the public methods and properties ``cls`` defines itself."""
    rows = []
    for name, value in vars(cls).items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(value, property):
            rows.append((name, "", inspect.getdoc(value) or ""))
        elif isinstance(value, (staticmethod, classmethod)) or inspect.isfunction(value):
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            rows.append((name, signature(function), inspect.getdoc(function) or ""))
    return rows


def _documented_exporters(exporters):
    """``exporters`` ({module: name}) narrowed to the modules of ``MODULES`` when any of
    them exports the object (so ``nyang.nn.Linear`` is not also ``nyang.nn.linear.Linear``)."""
    listed = {m: n for m, n in exporters.items() if m in MODULES}
    return listed or exporters


def _home(obj, exporters):
    """The exporting module whose name is the longest prefix of where ``obj`` is defined."""
    defined = obj.__module__
    prefixes = [m for m in exporters if defined == m or defined.startswith(m + ".")]
    return max(prefixes, key=len) if prefixes else min(exporters, key=len)


def build_index():
    """One dict per public class or function: ``module``, ``name``, ``qualname``,
    ``kind``, ``signature``, ``doc``, ``summary``, ``shapes``, ``members``, ``also``
    (the other names it is exported under); sorted by module (in public_modules order), then name."""
    modules = public_modules()
    exporters = {}
    for module in modules:
        for name, obj in exported(module).items():
            exporters.setdefault(id(obj), (obj, {}))[1][module.__name__] = name
    order = {m.__name__: i for i, m in enumerate(modules)}
    entries = []
    for obj, names in exporters.values():
        names = _documented_exporters(names)
        home = _home(obj, names)
        doc = inspect.getdoc(obj) or ""
        entries.append({
            "module": home, "name": names[home], "qualname": f"{home}.{names[home]}",
            "kind": "class" if inspect.isclass(obj) else "function", "signature": signature(obj),
            "doc": doc, "summary": doc.split("\n\n")[0].replace("\n", " "), "shapes": shapes(doc),
            "members": _members(obj) if inspect.isclass(obj) else [],
            "also": sorted(f"{m}.{n}" for m, n in names.items() if m != home),
        })
    return sorted(entries, key=lambda e: (order[e["module"]], e["name"].lower()))


def module_docs():
    """``{module name: its docstring}`` for the modules of :func:`public_modules`."""
    return {m.__name__: inspect.getdoc(m) or "" for m in public_modules()}


def search(entries, query):
    """The entries whose qualified name (or another name they go by) contains every
    word of ``query``, case-insensitively; exact name matches first."""
    words = query.lower().split()
    hits = [e for e in entries
            if all(any(w in name.lower() for name in [e["qualname"], *e["also"]]) for w in words)]
    return sorted(hits, key=lambda e: (e["name"].lower() != query.strip().lower(), len(e["qualname"])))


_ROLE = re.compile(r":\w+:`~?([^`]+)`")
_CODE = re.compile(r"(``?[^`]+``?)")


def _escape(text):
    """Markdown-escape ``text`` outside `code spans`: lone ``*``, ``_`` and ``$``."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"(?<!\*)\*(?!\*)", r"\\*", parts[i]).replace("_", r"\_").replace("$", r"\$")
    for i in range(1, len(parts), 2):
        parts[i] = "`" + parts[i].strip("`") + "`"
    return "".join(parts)


def to_markdown(doc):
    """A reStructuredText-flavoured docstring as Markdown: roles and ````code```` as
    `code`, ``>>>`` examples and ``::`` blocks fenced, section underlines as bold."""
    lines, out, block = _ROLE.sub(r"``\1``", doc).splitlines(), [], None
    for i, line in enumerate(lines):
        indented = line.startswith("    ") or not line.strip()
        if block == "doctest" and not line.lstrip().startswith((">>>", "...")):
            out.append("```")
            block = None
        if block == "literal" and not indented:
            out.append("```")
            block = None
        if block == "literal" and out[-1] == "```python" and not line.strip():
            continue
        if block:
            out.append(line[4:] if block == "literal" else line.strip())
        elif line.lstrip().startswith(">>>"):
            out += ["```python", line.strip()]
            block = "doctest"
        elif re.fullmatch(r"[-=~]{3,}", line.strip()) and out and out[-1].strip():
            out[-1] = f"**{out[-1]}**\n"
        else:
            out.append(_escape(line[:-1] if line.endswith("::") else line))
            if line.endswith("::") and i + 1 < len(lines):
                out.append("```python")
                block = "literal"
    if block:
        out.append("```")
    return "\n".join(out)

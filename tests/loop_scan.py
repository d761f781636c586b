"""A static scan of engine/ and the console for two faults (used by test_loop_hygiene.py).

1. **Blocking calls on the event loop.** The body of an ``async def`` runs on the loop;
   a call in it to a known blocking function (file reads and writes, ``time.sleep``,
   ``subprocess``, ``os.walk``, ``psutil``, ``shutil``, blocking ``socket`` look-ups,
   ``tomllib.load``...) stalls every other task, key presses included. Code that must do
   such work hands a *sync* function to ``asyncio.to_thread`` / ``run_in_executor``: the
   scan does not enter nested ``def``s and ``lambda``s (they run wherever they are
   passed), and a call that is ``await``-ed directly is a coroutine, never a blocking call.

   One level further, and only where the name resolves without guessing: a call from an
   ``async def`` to a *sync* function or method of engine/ or tui/ whose own body (or a
   sync function it calls, transitively) calls a blocking function. Names resolve through
   ``name(...)`` (same module or ``from switchyard.x import name``), ``module.name(...)``
   (``from switchyard.x import module`` / ``import ... as``) and ``self.name(...)`` (a
   method of the enclosing class). Calls through other objects (``self.engine.x()``,
   ``view.y()``) are not followed: the scan cannot know their type. That is its limit.

2. **Silent broad handlers.** ``except Exception`` / ``except BaseException`` / a bare
   ``except:`` whose body neither re-raises, logs (``log.``/``logger.``/``logging.``
   calls, ``warnings.warn``; a ``notify`` in the console is not enough), nor
   uses the caught exception (stores it, returns it, formats it into a status).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module.function called on the loop: always blocking ("*" = every function of the module)
BLOCKING_MODULE_CALLS: dict[str, set[str]] = {
    "time": {"sleep"},
    "subprocess": {"run", "call", "check_call", "check_output", "Popen", "getoutput"},
    "os": {
        "walk",
        "listdir",
        "scandir",
        "stat",
        "lstat",
        "fsync",
        "system",
        "popen",
        "open",
        "read",
        "write",
        "makedirs",
        "remove",
        "unlink",
        "rename",
        "replace",
        "chmod",
        "waitpid",
    },
    "psutil": {"*"},
    "shutil": {"*"},
    "tomllib": {"load"},
    "socket": {"create_connection", "getaddrinfo", "gethostbyname", "gethostbyaddr", "getfqdn"},
    "smtplib": {"*"},
    "sqlite3": {"connect"},
    "glob": {"glob", "iglob"},
}
BLOCKING_BUILTINS = {"open", "input"}
# attribute calls that read or write the file system on a ``pathlib.Path`` (heuristic:
# by the method name; none of these names is an async method in this code base)
BLOCKING_PATH_METHODS = {
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "stat",
    "lstat",
    "exists",
    "is_file",
    "is_dir",
    "iterdir",
    "glob",
    "rglob",
    "mkdir",
    "unlink",
    "touch",
    "rmdir",
    "chmod",
    "resolve",
    "open",
}
# attribute calls that block on any object that has them (psutil.Process, sockets, files)
BLOCKING_OBJECT_METHODS = {"children", "process_iter", "recv", "sendall", "accept"}

SCANNED = ("engine", "tui")
INDEXED = (*SCANNED, "store")  # sync functions of the store are followed, not reported


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the repository
    line: int
    function: str  # the async def (or the handler's function)
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: {self.what}"


def python_files(root: Path, tops: tuple[str, ...]) -> Iterator[Path]:
    for top in tops:
        yield from sorted((root / top).rglob("*.py"))


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["switchyard", *parts])


class Module:
    """One parsed file: its imports (alias -> dotted target) and its top-level functions."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.name = module_name(path, root)
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.imports: dict[str, str] = {}  # local alias -> module or module.attribute
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    self.imports[a.asname or a.name] = f"{node.module}.{a.name}"

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(self.root))


def own_calls(func: ast.AST) -> Iterator[tuple[ast.Call, bool]]:
    """Calls in ``func``'s own body (not in nested defs, lambdas or classes), each with
    whether it is directly awaited."""
    awaited: set[int] = set()
    stack: list[ast.AST] = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
            awaited.add(id(node.value))
        if isinstance(node, ast.Call):
            yield node, id(node) in awaited
        stack.extend(ast.iter_child_nodes(node))


def blocking_call(module: Module, call: ast.Call) -> str | None:
    """What is blocking about this call (None when nothing is known to be)."""
    func = call.func
    if isinstance(func, ast.Name):
        if func.id in BLOCKING_BUILTINS and func.id not in module.imports:
            return f"{func.id}()"
        target = module.imports.get(func.id, "")
        mod, _, attr = target.rpartition(".")
        if attr and mod in BLOCKING_MODULE_CALLS:
            allowed = BLOCKING_MODULE_CALLS[mod]
            if "*" in allowed or attr in allowed:
                return f"{mod}.{attr}()"
        return None
    if not isinstance(func, ast.Attribute):
        return None
    name = dotted(func.value)
    if name is not None and "." not in name:
        real = module.imports.get(name, name)
        if real in BLOCKING_MODULE_CALLS:
            allowed = BLOCKING_MODULE_CALLS[real]
            return f"{real}.{func.attr}()" if "*" in allowed or func.attr in allowed else None
        if real in module.imports.values() and real.startswith("switchyard"):
            return None  # a function of one of our modules: resolved by the call graph
    if name == "self":
        return None  # a method of our own class (resolved by the call graph), not a Path
    if func.attr in BLOCKING_PATH_METHODS:
        return f".{func.attr}() (file system)"
    if func.attr in BLOCKING_OBJECT_METHODS:
        return f".{func.attr}()"
    return None


FuncKey = tuple[str, str]  # (module name, "func" or "Class.method")


def _functions(module: Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


class Scan:
    """``cheap``: sync functions known not to block for long (never followed);
    ``once``: async functions that run once at start, before the loop has other work."""

    def __init__(
        self,
        root: Path = ROOT,
        *,
        cheap: frozenset[FuncKey] = frozenset(),
        once: frozenset[FuncKey] = frozenset(),
    ) -> None:
        self.cheap, self.once = cheap, once
        files = python_files(root, INDEXED)
        self.modules = {m.name: m for m in (Module(p, root) for p in files)}
        self.sync: dict[FuncKey, ast.FunctionDef] = {}
        self.async_: dict[FuncKey, ast.AsyncFunctionDef] = {}
        for m in self.modules.values():
            for qual, node in _functions(m):
                if isinstance(node, ast.AsyncFunctionDef):
                    self.async_[(m.name, qual)] = node
                else:
                    self.sync[(m.name, qual)] = node
        self.blocking_sync = self._blocking_sync_functions()

    def resolve(self, module: Module, qual: str, call: ast.Call) -> FuncKey | None:
        """The engine/tui function this call names, when that is certain enough."""
        func = call.func
        cls = qual.split(".")[0] if "." in qual else None
        if isinstance(func, ast.Name):
            target = module.imports.get(func.id, f"{module.name}.{func.id}")
            return self._named(target)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            base = func.value.id
            if base == "self" and cls and (module.name, f"{cls}.{func.attr}") in self.sync:
                return (module.name, f"{cls}.{func.attr}")
            target = module.imports.get(base)
            if target:
                return self._named(f"{target}.{func.attr}")
        return None

    def _named(self, target: str) -> FuncKey | None:
        """``module.function`` or ``module.Class`` (its ``__init__``), following re-exports
        (``from .parse import load_file`` in a package's ``__init__``)."""
        for _ in range(4):
            mod, _, attr = target.rpartition(".")
            for key in ((mod, attr), (mod, f"{attr}.__init__")):
                if key in self.sync:
                    return key
            owner = self.modules.get(mod)
            if owner is None or attr not in owner.imports:
                return None
            target = owner.imports[attr]
        return None

    def _blocking_sync_functions(self) -> dict[FuncKey, str]:
        """Sync functions that block (directly, or through another one), with the why."""
        found: dict[FuncKey, str] = {}
        for (mod, qual), node in self.sync.items():
            if (mod, qual) in self.cheap:
                continue
            module = self.modules[mod]
            for call, _ in own_calls(node):
                why = blocking_call(module, call)
                if why:
                    found[(mod, qual)] = why
                    break
        changed = True
        while changed:
            changed = False
            for (mod, qual), node in self.sync.items():
                if (mod, qual) in found or (mod, qual) in self.cheap:
                    continue
                module = self.modules[mod]
                for call, _ in own_calls(node):
                    key = self.resolve(module, qual, call)
                    if key and key in found:
                        found[(mod, qual)] = f"{key[1]}() -> {found[key]}"
                        changed = True
                        break
        return found

    def blocking_in_async(self) -> list[Finding]:
        out: list[Finding] = []
        for (mod, qual), node in self.async_.items():
            module = self.modules[mod]
            if not module.rel.startswith(SCANNED) or (mod, qual) in self.once:
                continue
            out.extend(self._scan_async(module, qual, node))
            # async defs nested in functions (closures spawned as tasks) run on the loop too
            for inner in ast.walk(node):
                if inner is not node and isinstance(inner, ast.AsyncFunctionDef):
                    out.extend(self._scan_async(module, f"{qual}.{inner.name}", inner))
        for m in self.modules.values():  # async defs nested in sync functions
            if not m.rel.startswith(SCANNED):
                continue
            for qual, node in _functions(m):
                if isinstance(node, ast.FunctionDef):
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.AsyncFunctionDef):
                            out.extend(self._scan_async(m, f"{qual}.{inner.name}", inner))
        return sorted(set(out), key=lambda f: (f.path, f.line))

    def _scan_async(self, module: Module, qual: str, node: ast.AST) -> list[Finding]:
        out = []
        for call, awaited in own_calls(node):
            if awaited:
                continue
            why = blocking_call(module, call)
            if why is None:
                key = self.resolve(module, qual, call)
                if key and key in self.blocking_sync:
                    why = f"{key[1]}() -> {self.blocking_sync[key]}"
            if why:
                out.append(Finding(module.rel, call.lineno, qual, why))
        return out

    def silent_handlers(self) -> list[Finding]:
        out: list[Finding] = []
        for m in self.modules.values():
            if not m.rel.startswith(SCANNED):
                continue
            parents = _function_parents(m.tree)
            for node in ast.walk(m.tree):
                if isinstance(node, ast.ExceptHandler) and _broad(node) and _silent(node):
                    fn = parents.get(id(node), "<module>")
                    kind = ast.unparse(node.type) if node.type else "bare except"
                    out.append(Finding(m.rel, node.lineno, fn, f"silent `except {kind}`"))
        return sorted(out, key=lambda f: (f.path, f.line))


def _function_parents(tree: ast.Module) -> dict[int, str]:
    names: dict[int, str] = {}

    def visit(node: ast.AST, current: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = current
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = child.name
            names[id(child)] = name
            visit(child, name)

    visit(tree, "<module>")
    return names


BROAD = {"Exception", "BaseException"}


def _broad(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(dotted(t) in BROAD for t in types)


LOG_PREFIXES = ("log.", "logger.", "logging.", "warnings.warn", "_log.")


def _silent(handler: ast.ExceptHandler) -> bool:
    """True when the body does nothing with what was caught: no raise, no log call, no use
    of the exception's name."""
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if isinstance(node, ast.Raise):
            return False
        if isinstance(node, ast.Call):
            name = dotted(node.func) or ""
            if name.startswith(LOG_PREFIXES) or name in {"log", "logger"}:
                return False
        if handler.name and isinstance(node, ast.Name) and node.id == handler.name:
            return False
    return True

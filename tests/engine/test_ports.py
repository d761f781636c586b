"""The parts of the engine take narrow ports, never the whole engine as ``Any``.

- no parameter (or attribute) named ``engine`` is typed ``Any`` in engine/, and no mixin
  of ``Engine`` declares what it borrows (store, clock, tx, ...) as ``Any``;
- every port (a Protocol built on engine/kernel/ports.py) is listed in engine/wiring.py,
  whose ``provides`` assigns an ``Engine`` to it (mypy checks those assignments);
- a real engine has every member of every port at run time.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import switchyard.engine as engine_pkg
from switchyard.engine import wiring
from switchyard.engine.api import Engine
from switchyard.engine.kernel import ports
from switchyard.engine.kernel.ports import EngineParts

ENGINE_DIR = Path(__file__).resolve().parents[2] / "engine"

#: Functions allowed an untyped engine parameter: none (rules take people/rules.py
#: ``Checked``, the rules' own port).
ALLOWED: set[tuple[str, str]] = set()


def _is_any(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        node = ast.parse(node.value, mode="eval").body
    return (isinstance(node, ast.Name) and node.id == "Any") or (
        isinstance(node, ast.Attribute) and node.attr == "Any"
    )


def engine_typed_any(source: str) -> list[tuple[str, int]]:
    """(function or class, line) of every ``engine: Any`` parameter or annotation."""
    found: list[tuple[str, int]] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            name = getattr(node, "name", "<lambda>")
            found += [
                (name, a.lineno) for a in every if a.arg == "engine" and _is_any(a.annotation)
            ]
        elif isinstance(node, ast.AnnAssign) and _is_any(node.annotation):
            target = node.target
            named = (isinstance(target, ast.Name) and target.id == "engine") or (
                isinstance(target, ast.Attribute) and target.attr == "engine"
            )
            if named:
                found.append(("<annotation>", node.lineno))
    return found


def test_the_scan_finds_engine_any() -> None:
    source = (
        "from typing import Any\n"
        "import typing\n"
        "def f(engine: Any) -> None: ...\n"
        "async def g(x: int, *, engine: 'Any') -> None: ...\n"
        "class C:\n"
        "    engine: typing.Any\n"
        "    def __init__(self, engine: object) -> None:\n"
        "        self.engine: Any = engine\n"
    )
    assert [line for _, line in engine_typed_any(source)] == [3, 4, 6, 8]
    assert engine_typed_any("def f(engine: 'Store') -> None: ...\n") == []


def test_no_engine_typed_any_in_the_engine() -> None:
    offenders = []
    for path in sorted(ENGINE_DIR.rglob("*.py")):
        rel = path.relative_to(ENGINE_DIR).as_posix()
        for name, line in engine_typed_any(path.read_text()):
            if (rel, name) not in ALLOWED:
                offenders.append(f"engine/{rel}:{line} ({name})")
    assert offenders == [], "take a port (engine/kernel/ports.py), not engine: Any"


def test_engine_mixins_declare_what_they_borrow_typed() -> None:
    """No ``store: Any`` / ``clock: Any`` / ``def tx(self) -> Any`` in a mixin: each
    inherits EngineParts (or declares the attribute with its real type)."""
    untyped = []
    for cls in Engine.__mro__[1:]:
        if cls is object:
            continue
        for name, note in vars(cls).get("__annotations__", {}).items():
            if note in ("Any", "typing.Any"):
                untyped.append(f"{cls.__name__}.{name}")
        for name, value in vars(cls).items():
            returns = getattr(value, "__annotations__", {}).get("return")
            if callable(value) and name in vars(EngineParts) and returns in ("Any", None):
                untyped.append(f"{cls.__name__}.{name}()")
    assert untyped == []
    mixins = [c for c in Engine.__mro__[1:] if c not in (EngineParts, object)]
    assert all(issubclass(c, EngineParts) for c in mixins), mixins


def _all_engine_modules() -> list[object]:
    modules: list[object] = [engine_pkg]
    for info in pkgutil.walk_packages(engine_pkg.__path__, engine_pkg.__name__ + "."):
        modules.append(importlib.import_module(info.name))
    return modules


def _ports_defined_in_the_engine() -> set[type]:
    atoms = {
        v
        for v in vars(ports).values()
        if isinstance(v, type)
        and getattr(v, "_is_protocol", False)
        and v.__module__ == ports.__name__
    }
    found: set[type] = set()
    for module in _all_engine_modules():
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == getattr(module, "__name__", None)
                and getattr(value, "_is_protocol", False)
                and any(base in atoms for base in value.__mro__)
            ):
                found.add(value)
    return found


def test_every_port_is_listed_and_assigned_an_engine_for_mypy() -> None:
    listed = set(wiring.PORTS)
    assert len(listed) == len(wiring.PORTS), "a port listed twice"
    assert _ports_defined_in_the_engine() == listed
    tree = ast.parse((ENGINE_DIR / "wiring.py").read_text())
    provides = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "provides")
    assigned = {
        ast.unparse(n.annotation)
        for n in provides.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.value, ast.Name) and n.value.id == "engine"
    }
    assert assigned == {p.__name__ for p in wiring.PORTS}


async def test_a_real_engine_satisfies_every_port(engine: Engine) -> None:
    for port in wiring.PORTS:
        assert getattr(port, "_is_runtime_protocol", False), f"{port.__name__}: runtime_checkable"
        assert isinstance(engine, port), port.__name__
    # the check can fail: a part of the engine is not the engine
    assert not isinstance(engine.store, wiring.PORTS[0])
    assert not isinstance(object(), ports.Transactions)

"""Issue 11 §1: one claim path. Only ``store/queries/claims.py`` may write an instance's
status as ``running``; every other route (a wait that ends, a child that wakes its parent,
a work item answered, an operator's retry or skip, a restore) goes back to ``queued`` and
through the claim, which holds the lane's lock. This walks the source so that a new
shortcut to ``running`` fails here instead of overfilling a lane in production."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "store", "tui")
CLAIM_PATH = Path("store/queries/claims.py")
EVENT_CALLS = {"emit", "EngineEvent"}  # a payload saying "running", not a write
SQL_SET_RUNNING = re.compile(r"\bSET\b[^;]*\bstatus\s*=\s*'running'", re.IGNORECASE | re.DOTALL)


def _is_running(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value == "running"
    if isinstance(node, ast.Name):
        return node.id == "RUNNING"
    return isinstance(node, ast.Attribute) and node.attr == "RUNNING"


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def writes_running(tree: ast.AST) -> list[int]:
    """Lines where ``status`` is given the value running, outside event payloads."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def in_event(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.Call) and _call_name(node) in EVENT_CALLS:
                return True
        return False

    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                is_status = isinstance(key, ast.Constant) and key.value == "status"
                if is_status and _is_running(value) and not in_event(node):
                    lines.append(node.lineno)
        elif isinstance(node, ast.keyword):
            if node.arg == "status" and _is_running(node.value) and not in_event(node):
                lines.append(node.value.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            lines += [node.lineno] if SQL_SET_RUNNING.search(node.value) else []
    return sorted(lines)


def test_the_guard_sees_a_shortcut_to_running() -> None:
    shortcut = (
        "await inst_q.set_fields(conn, i, {'status': RUNNING})\n"
        "stmt = update(t).values(status=models.RUNNING)\n"
        "SQL = \"UPDATE instances SET node_id = :n, status = 'running' WHERE id = :i\"\n"
        "tx.emit(ev.INSTANCES_CHANGED, i, status=RUNNING)\n"
        "EngineEvent(kind, i, {'status': 'running'}, node)\n"
    )
    assert writes_running(ast.parse(shortcut)) == [1, 2, 3]


def test_only_the_claim_writes_running() -> None:
    found: dict[str, list[int]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = writes_running(ast.parse(path.read_text(encoding="utf-8")))
            if lines and path.relative_to(ROOT) != CLAIM_PATH:
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}, "instances set running outside store/queries/claims.py"
    assert writes_running(ast.parse((ROOT / CLAIM_PATH).read_text(encoding="utf-8")))

"""Issue 13: every change of an instance's status goes through
``engine/instances/transition.py`` (guarded update, ``waiting_on`` set or cleared, event,
end hook). The one exception is the claim to ``running`` in ``store/queries/claims.py``
(guarded by tests/security/test_lanes_one_claim_path.py). This walks the source like that
test does, so that a new inline status write fails here instead of skipping the end hook."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from switchyard.engine.instances.status import Status

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "store", "tui")
STATUS_NAMES = {s.name for s in Status}
STATUS_VALUES = {s.value for s in Status}
EVENT_CALLS = {"emit", "EngineEvent"}  # a payload naming a status, not a write
SQL_SET_STATUS = re.compile(r"\bSET\b[^;]*\bstatus\s*=", re.IGNORECASE | re.DOTALL)
PRIMITIVES = {"wake", "wake_due"}  # store/queries/instances.py: waiting -> queued

# (file, function) pairs allowed to write an instance's status
ALLOWED = {
    ("engine/instances/transition.py", "*"),  # the lifecycle
    ("store/queries/claims.py", "*"),  # queued -> running, under the lane's lock
    ("store/queries/instances.py", "wake"),  # primitives that transition.wake calls
    ("store/queries/instances.py", "wake_due"),
    # a new row starts queued (or skipped/missed when a fire is recorded as not run)
    ("engine/process/starts.py", "instance_row"),
    ("engine/process/host.py", "start_child"),
    ("engine/instances/completion.py", "after_end"),  # the instance of a chained schedule
}


def _status_expr(node: ast.AST | None) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in STATUS_VALUES
    if isinstance(node, ast.Name):
        return node.id in STATUS_NAMES
    return isinstance(node, ast.Attribute) and node.attr in STATUS_NAMES


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def status_writes(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, enclosing function) of each status write, outside event payloads."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def ancestors(node: ast.AST) -> list[ast.AST]:
        out = []
        while node in parents:
            node = parents[node]
            out.append(node)
        return out

    def in_event(node: ast.AST) -> bool:
        return any(
            isinstance(a, ast.Call) and _call_name(a) in EVENT_CALLS for a in ancestors(node)
        )

    def function(node: ast.AST) -> str:
        for a in ancestors(node):
            if isinstance(a, ast.FunctionDef | ast.AsyncFunctionDef):
                return a.name
        return "<module>"

    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                is_status = isinstance(key, ast.Constant) and key.value == "status"
                if is_status and _status_expr(value) and not in_event(node):
                    found.append(node)
        elif isinstance(node, ast.keyword):
            if node.arg == "status" and _status_expr(node.value) and not in_event(node):
                found.append(node.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                is_key = isinstance(target, ast.Subscript) and (
                    isinstance(target.slice, ast.Constant) and target.slice.value == "status"
                )
                if is_key and _status_expr(node.value):
                    found.append(node)
        elif isinstance(node, ast.Call) and _call_name(node) == "set_fields":
            for arg in node.args:  # set_fields writes instances: any "status" key is a change
                if isinstance(arg, ast.Dict) and any(
                    isinstance(k, ast.Constant) and k.value == "status" for k in arg.keys
                ):
                    found.append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in PRIMITIVES and getattr(owner, "id", "") == "inst_q":
                found.append(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [node] if SQL_SET_STATUS.search(node.value) else []
    return sorted({(n.lineno, function(n)) for n in found})  # type: ignore[attr-defined]


def test_the_guard_sees_each_kind_of_status_write() -> None:
    shortcuts = (
        "async def f(tx, i, status):\n"
        "    await inst_q.set_fields(tx.conn, i, {'status': status})\n"
        "    await inst_q.set_fields(tx.conn, i, {'status': CANCELLED, 'reason': 'x'})\n"
        "    stmt = update(t).values(status=models.WAITING)\n"
        "    SQL = \"UPDATE instances SET status = 'queued' WHERE id = :i\"\n"
        "    values['status'] = Status.ERROR\n"
        "    await inst_q.wake(tx.conn, i, tx.now)\n"
        "    tx.emit(ev.INSTANCES_CHANGED, i, status=CANCELLED)\n"
        "    EngineEvent(kind, i, {'status': 'completed'}, node)\n"
        "    await wi_q.set_fields(tx.conn, 1, {'state': WI_COMPLETED})\n"
    )
    lines = [line for line, _ in status_writes(ast.parse(shortcuts))]
    assert lines == [2, 3, 4, 5, 6, 7]


def test_only_transition_changes_an_instances_status() -> None:
    found: dict[str, list[tuple[int, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel.startswith("store/migrations/"):
                continue  # history: the schema's own upgrades
            for line, func in status_writes(ast.parse(path.read_text(encoding="utf-8"))):
                if (rel, "*") in ALLOWED or (rel, func) in ALLOWED:
                    seen.add((rel, "*") if (rel, "*") in ALLOWED else (rel, func))
                else:
                    found.setdefault(rel, []).append((line, func))
    assert found == {}, "instance statuses written outside engine/instances/transition.py"
    assert seen == ALLOWED, f"stale exceptions: {ALLOWED - seen}"

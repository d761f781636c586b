"""Entry points: parse_definition and load_file. Top-level layout, states, tasks, start, and
the reachability warning; the sections live in variables.py, actions.py, kinds.py, forms.py.

Every problem is collected (sorted by position) before :class:`DefinitionError` is raised.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from switchyard.engine.definitions import forms as form_section
from switchyard.engine.definitions import milestones
from switchyard.engine.definitions.actions import check_branch_forms, parse_actions, walk
from switchyard.engine.definitions.ctx import NAME, Ctx, Scope, TaskInfo, close
from switchyard.engine.definitions.model import Definition, DefinitionError, Issue, Known
from switchyard.engine.definitions.variables import parse_specs, spec_order
from switchyard.engine.definitions.yamlsrc import (
    MAX_FILE_BYTES,
    check_tree,
    compose,
    is_null,
    join,
    preflight,
)
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.sandbox.expressions import Sandbox
from yaml.nodes import Node

TOP_KEYS = ("process", "description", "lane", "variables", "start", "states", "tasks", "forms")
TASK_KEYS = ("inputs", "outputs", "variables", "actions")
PROCESS_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_SANDBOX = Sandbox()


def parse_definition(text: str, filename: str, known: Known | None = None) -> Definition:
    """Validate and normalise one definition; raises DefinitionError with every error."""
    ctx = Ctx(filename, known or Known(), _SANDBOX)
    root = compose(text, ctx.report) if preflight(text, ctx.report) else None
    doc: dict[str, Any] = {}
    if root is None and not ctx.issues:
        ctx.report(1, 1, "(top)", "the file is empty")
    if root is not None:
        check_tree(root, ctx.report)
        doc = _document(ctx, root)
    if ctx.issues:
        raise DefinitionError(_sorted(ctx.issues))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    warnings = _sorted(ctx.warnings)
    return Definition(doc["process"], doc, text, filename, digest, warnings)


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def load_file(path: Path, known: Known | None = None) -> Definition:
    """parse_definition of a file; issues name the file as given (``str(path)``)."""
    return parse_definition(read_source(path), str(path), known)


def read_source(path: Path) -> str:
    """A definition file's text, read bounded (a file over MAX_FILE_BYTES is refused without
    reading more than that). Too large, or not UTF-8 (binary, UTF-16, Latin-1):
    DefinitionError naming the file and the first bad byte. Unreadable: one
    ``SwitchyardError`` naming the file (exit 2 on the CLI)."""
    try:
        if Path(path).is_fifo() or Path(path).is_socket():  # opening would block for ever
            raise SwitchyardError("file", f"{path}: not a regular file")
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise SwitchyardError("file", f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES // 2**20} MiB"
        raise DefinitionError(
            [Issue(str(path), 1, 1, "(file)", f"the file is larger than {limit}")]
        )
    if data.startswith(_UTF16_BOMS):
        issue = Issue(
            str(path), 1, 1, "(file)", "not UTF-8 text (byte 0: UTF-16; save it as UTF-8)"
        )
        raise DefinitionError([issue])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        issue = Issue(str(path), 1, 1, "(file)", f"not UTF-8 text (byte {exc.start})")
        raise DefinitionError([issue]) from None


def _sorted(issues: list[Issue]) -> list[Issue]:
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda i: (i.line, i.col))


def _document(ctx: Ctx, root: Node) -> dict[str, Any]:
    keys = ctx.mapping(root, "", TOP_KEYS, required=("process", "start", "states"))
    if keys is None:
        return {}
    name = ctx.text(keys["process"][1], "process") if "process" in keys else None
    if name is not None and ctx.too_long(keys["process"][1], "process", "process", name):
        name = None
    elif name is not None and not PROCESS_NAME.match(name):
        ctx.error(
            keys["process"][1],
            "process",
            f"process name {name!r} is not valid (lowercase letters, digits, '.', '_', '-'; "
            "starting with a letter or digit)",
        )
    ctx.process = name or ""
    description = ctx.text(keys["description"][1], "description") if "description" in keys else None
    lane = ctx.text(keys["lane"][1], "lane") if "lane" in keys else None
    lanes = ctx.known.lanes
    if lane is not None and lanes is not None and lane not in lanes:
        ctx.error(keys["lane"][1], "lane", f"unknown lane {lane!r}{close(lane, lanes)}")
    if "variables" in keys:
        ctx.variables = parse_specs(ctx, keys["variables"][1], "variables")
    states = _names(ctx, keys["states"][1], "states", "state") if "states" in keys else []
    for state, key, _ in states:
        ctx.states[state] = key
    tasks = _prepare_tasks(ctx, keys["tasks"][1]) if "tasks" in keys else {}
    forms = form_section.prepare(ctx, keys["forms"][1], "forms") if "forms" in keys else {}
    start = ctx.text(keys["start"][1], "start") if "start" in keys else None
    if start is not None and start not in ctx.states and "states" in keys:
        ctx.error(keys["start"][1], "start", f"unknown state {start!r}{close(start, ctx.states)}")
    types = {var: spec["type"] for var, spec in ctx.variables.items()}
    doc_states: dict[str, Any] = {}
    for state, key, value in states:
        spath = join("states", state)
        entry = ctx.mapping(value, spath, ("actions",), required=("actions",))
        actions: list[dict[str, Any]] = []
        if entry and "actions" in entry:
            actions = parse_actions(
                ctx, entry["actions"][1], join(spath, "actions"), Scope("state", types)
            )
        doc_states[state] = {"actions": actions, "line": key.start_mark.line + 1}
    doc_tasks = _finish_tasks(ctx, tasks, types)
    doc_forms = form_section.finish(ctx, forms, "forms")
    check_branch_forms(ctx, doc_forms)
    milestones.check(ctx)
    if start in doc_states:
        _warn_unreachable(ctx, start, doc_states, doc_tasks, doc_forms)
    return {
        "process": name,
        "description": description,
        "lane": lane,
        "variables": {var: spec_order(spec) for var, spec in ctx.variables.items()},
        "start": start,
        "states": doc_states,
        "tasks": doc_tasks,
        "forms": doc_forms,
    }


def _names(ctx: Ctx, node: Node, path: str, what: str) -> list[tuple[str, Node, Node]]:
    entries = ctx.entries(node, path)
    for name, key, _ in entries:
        if ctx.too_long(key, path, what, name):
            continue
        if not NAME.match(name):
            ctx.error(key, path, f"{what} name {name!r} is not valid (letters, digits, _ and -)")
    if not entries and what == "state" and (node.tag.endswith(":map") or is_null(node)):
        ctx.error(node, path, "a process needs at least one state")
    return entries


def _prepare_tasks(ctx: Ctx, node: Node) -> dict[str, tuple[Node, dict[str, tuple[Node, Node]]]]:
    out: dict[str, tuple[Node, dict[str, tuple[Node, Node]]]] = {}
    for name, key, value in _names(ctx, node, "tasks", "task"):
        tpath = join("tasks", name)
        keys = ctx.mapping(value, tpath, TASK_KEYS, required=("actions",))
        if keys is None:
            continue
        info = TaskInfo()
        for section, what, target in (
            ("inputs", "input", info.inputs),
            ("outputs", "output", info.outputs),
            ("variables", "variable", info.local),
        ):
            if section not in keys:
                continue
            for var, spec in parse_specs(ctx, keys[section][1], join(tpath, section), what).items():
                if var in info.variables():
                    ctx.error(
                        keys[section][1],
                        join(tpath, section),
                        f"{var!r} is declared twice in task {name!r}",
                    )
                    continue
                if var in ctx.variables:
                    ctx.warn(
                        keys[section][1],
                        join(tpath, section),
                        f"task {what} {var!r} hides the process variable",
                    )
                target[var] = spec
        ctx.tasks[name] = info
        out[name] = (key, keys)
    return out


def _finish_tasks(
    ctx: Ctx, tasks: dict[str, tuple[Node, dict[str, tuple[Node, Node]]]], types: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (key, keys) in tasks.items():
        info = ctx.tasks[name]
        scope_types = {**types, **{v: s["type"] for v, s in info.variables().items()}}
        tpath = join("tasks", name)
        actions: list[dict[str, Any]] = []
        if "actions" in keys:
            actions = parse_actions(
                ctx, keys["actions"][1], join(tpath, "actions"), Scope("task", scope_types)
            )
        out[name] = {
            "inputs": {v: spec_order(s) for v, s in info.inputs.items()},
            "outputs": {v: spec_order(s) for v, s in info.outputs.items()},
            "variables": {v: spec_order(s) for v, s in info.local.items()},
            "actions": actions,
            "line": key.start_mark.line + 1,
        }
    return out


def _warn_unreachable(
    ctx: Ctx, start: str, states: dict[str, Any], tasks: dict[str, Any], forms: dict[str, Any]
) -> None:
    """States not reachable from start by change_state (also via form buttons of the work
    items a state sends, and via the tasks it calls) are warnings."""
    buttons = {
        form: {
            a["args"]["state"]
            for acts in spec["buttons"].values()
            for a in walk(acts)
            if a["kind"] == "change_state"
        }
        for form, spec in forms.items()
    }

    def targets(actions: list[dict[str, Any]], seen_tasks: set[str]) -> set[str]:
        out: set[str] = set()
        for action in walk(actions):
            kind, args = action["kind"], action["args"]
            if kind == "change_state":
                out.add(args["state"])
            elif kind == "send_work_item":
                out |= buttons.get(args.get("form") or "", set())
            elif kind == "call" and args["task"] in tasks and args["task"] not in seen_tasks:
                seen_tasks.add(args["task"])
                out |= targets(tasks[args["task"]]["actions"], seen_tasks)
        return out

    reached, todo = {start}, [start]
    while todo:
        for target in targets(states[todo.pop()]["actions"], set()):
            if target in states and target not in reached:
                reached.add(target)
                todo.append(target)
    for name, state in states.items():
        _warn_self_loop(ctx, name, state["actions"], targets(state["actions"], set()), tasks)
    for name in states:
        if name not in reached:
            ctx.warn(
                ctx.states[name],
                join("states", name),
                f"state {name!r} is never reached from start {start!r}",
            )


_EXITS = frozenset({"end_process", "raise"})


def _warn_self_loop(
    ctx: Ctx, name: str, actions: list[dict[str, Any]], goes_to: set[str], tasks: dict[str, Any]
) -> None:
    """A state that always changes to itself and has no other exit (no other state, no
    end_process or raise, also in the tasks it calls) runs until the step budget ends it."""
    always_self = any(
        a["kind"] == "change_state" and a["args"]["state"] == name for a in actions
    )  # at the top level of the state: unconditional
    if not always_self or goes_to - {name}:
        return
    called = [
        tasks[a["args"]["task"]]["actions"]
        for a in walk(actions)
        if a["kind"] == "call" and a["args"].get("task") in tasks
    ]
    if any(a["kind"] in _EXITS for acts in (actions, *called) for a in walk(acts)):
        return
    ctx.warn(
        ctx.states[name],
        join("states", name),
        f"state {name!r} can only change to itself: it loops until the step budget "
        "(max_steps_per_instance) ends the instance in error",
    )

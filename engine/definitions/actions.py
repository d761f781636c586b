"""The action grammar: one kind key per list item plus modifiers, and the control-flow kinds.

Every action normalises to::

    {"kind": K, "args": {...}, "retry": {"attempts": int, "backoff": seconds} | None,
     "idempotent": bool, "timeout": seconds | None, "name": str | None,
     "path": "states.submit.actions[1]", "line": int}

plus ``"when_milestone": name`` on a guarded ``send_work_item`` or ``wait`` (only when given:
engine/definitions/milestones.py).

``retry`` may be written ``retry: 3`` (attempts, no backoff) or ``{attempts, backoff}``;
a missing backoff is 0 (retry at once). Leaf kinds with outside effects live in kinds.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from switchyard.engine.definitions import fan, flow, kinds, milestones
from switchyard.engine.definitions.actions_limits import LOOP_DEFAULT, LOOP_LIMIT
from switchyard.engine.definitions.ctx import (
    RESERVED,
    Ctx,
    Scope,
    Site,
    close,
    is_template,
    unknown,
)
from switchyard.engine.definitions.variables import literal
from switchyard.engine.definitions.yamlsrc import is_null, join, jsonable, loc, node_kind, scalar
from yaml.nodes import MappingNode, Node, ScalarNode

MODIFIERS = ("retry", "idempotent", "timeout", "name", "when_milestone")
COMPANIONS = {"if": ("then", "else"), "switch": ("cases", "default")}

Handler = Callable[[Site], dict[str, Any] | None]


def parse_actions(ctx: Ctx, node: Node, path: str, scope: Scope) -> list[dict[str, Any]]:
    """A list of actions; every problem in it is reported."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(ctx.items(node, path)):
        action = parse_action(ctx, item, f"{path}[{i}]", scope)
        if action is not None:
            out.append(action)
    return out


def parse_action(ctx: Ctx, node: Node, path: str, scope: Scope) -> dict[str, Any] | None:
    if not isinstance(node, MappingNode):
        ctx.error(node, path, f"expected an action (like '- log: hello'), got a {node_kind(node)}")
        return None
    entries = ctx.entries(node, path)
    kind_keys = [(name, key) for name, key, _ in entries if name in HANDLERS]
    if len(kind_keys) > 1:
        names = ", ".join(repr(name) for name, _ in kind_keys)
        ctx.error(kind_keys[1][1], path, f"one action per list item: found {names}")
        return None
    kind = kind_keys[0][0] if kind_keys else None
    extra = COMPANIONS.get(kind or "", ())
    keys: dict[str, tuple[Node, Node]] = {}
    for name, key, value in entries:
        if name in HANDLERS or name in MODIFIERS or name in extra:
            keys[name] = (key, value)
        elif kind is None:
            ctx.error(key, path, unknown("action", name, HANDLERS))
        else:
            owner = next((k for k, names in COMPANIONS.items() if name in names), None)
            if owner:
                article = "an" if owner == "if" else "a"
                message = f"{name!r} belongs to {article} {owner!r} action, not to {kind!r}"
            else:
                message = unknown("key", name, (*MODIFIERS, *extra))
            ctx.error(key, path, message)
    if kind is None:
        if not any(name not in MODIFIERS for name, _, _ in entries):
            kinds_list = ", ".join(sorted(HANDLERS))
            ctx.error(node, path, f"no action kind given (expected one of: {kinds_list})")
        return None
    action: dict[str, Any] = {"kind": kind, "args": {}, "retry": None, "idempotent": False}
    action.update(timeout=None, name=None, path=path, line=loc(node)[0])
    _modifiers(ctx, keys, path, action)
    if "when_milestone" in keys:
        key, value = keys["when_milestone"]
        guard = milestones.guard(ctx, kind, key, value, path)
        if guard is not None:
            action["when_milestone"] = guard
    site = Site(ctx, keys[kind][1], join(path, kind), path, scope, keys, action, parse_actions)
    args = HANDLERS[kind](site)
    if args is None:
        return None
    action["args"] = args
    return action


def _modifiers(
    ctx: Ctx, keys: dict[str, tuple[Node, Node]], path: str, action: dict[str, Any]
) -> None:
    if "retry" in keys:
        node = keys["retry"][1]
        rpath = join(path, "retry")
        if isinstance(node, ScalarNode):
            attempts = ctx.integer(node, rpath, 1)
            action["retry"] = {"attempts": attempts, "backoff": 0.0} if attempts else None
        else:
            retry = ctx.mapping(node, rpath, ("attempts", "backoff"), required=("attempts",))
            if retry is not None and "attempts" in retry:
                attempts = ctx.integer(retry["attempts"][1], join(rpath, "attempts"), 1)
                backoff = 0.0
                if "backoff" in retry:
                    backoff = ctx.duration(retry["backoff"][1], join(rpath, "backoff")) or 0.0
                if attempts:
                    action["retry"] = {"attempts": attempts, "backoff": backoff}
    if "idempotent" in keys:
        action["idempotent"] = bool(ctx.flag(keys["idempotent"][1], join(path, "idempotent")))
    if "timeout" in keys:
        action["timeout"] = ctx.duration(keys["timeout"][1], join(path, "timeout"))
    if "name" in keys:
        label = ctx.text(keys["name"][1], join(path, "name"), scalars=True)
        if label is not None and ctx.too_long(keys["name"][1], join(path, "name"), "action", label):
            label = None
        action["name"] = label


def _if(s: Site) -> dict[str, Any]:
    cond = s.ctx.expr(s.node, s.path, s.scope)
    then = _need(s, "then")
    return {"cond": cond, "then": then, "else": _opt(s, "else")}


def _need(s: Site, name: str) -> list[dict[str, Any]]:
    if name not in s.keys:
        owner = s.keys[s.action["kind"]][0]
        s.ctx.error(owner, s.action_path, f"missing required key {name!r}")
        return []
    return s.actions(s.keys[name][1], join(s.action_path, name))


def _opt(s: Site, name: str) -> list[dict[str, Any]]:
    return s.actions(s.keys[name][1], join(s.action_path, name)) if name in s.keys else []


def _switch(s: Site) -> dict[str, Any]:
    on = s.ctx.expr(s.node, s.path, s.scope)
    cases: list[dict[str, Any]] = []
    if "cases" not in s.keys:
        _need(s, "cases")
    else:
        cpath = join(s.action_path, "cases")
        entries = s.ctx.entries(s.keys["cases"][1], cpath)
        for name, key, value in entries:
            if isinstance(key, ScalarNode):
                case = jsonable(scalar(key))
                cases.append({"value": case, "actions": s.actions(value, join(cpath, name))})
        if not entries and isinstance(s.keys["cases"][1], MappingNode):
            s.ctx.error(s.keys["cases"][1], cpath, "a switch needs at least one case")
    return {"on": on, "cases": cases, "default": _opt(s, "default")}


def _loop(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("for_each", "as", "while", "max", "do", *fan.LOOP_KEYS)
    keys = ctx.mapping(s.node, s.path, allowed, required=("do",))
    if keys is None:
        return None
    args: dict[str, Any] = {"for_each": None, "as": None, "while": None, "max": LOOP_DEFAULT}
    if ("for_each" in keys) == ("while" in keys):
        both = "not both" if "for_each" in keys else "none given"
        ctx.error(s.node, s.path, f"give exactly one of 'for_each' or 'while' ({both})")
    if "for_each" in keys:
        args["for_each"] = ctx.expr(keys["for_each"][1], join(s.path, "for_each"), s.scope)
        if "as" not in keys:
            ctx.error(s.node, s.path, "'for_each' needs 'as' (the name of the current item)")
    if "as" in keys:
        as_node, as_path = keys["as"][1], join(s.path, "as")
        if "for_each" not in keys:
            ctx.error(keys["as"][0], s.path, "'as' is only used with 'for_each'")
        name = ctx.ident(as_node, as_path, "loop name")
        if name in RESERVED:
            ctx.error(as_node, as_path, f"loop name {name!r} is reserved")
        elif name in s.scope.names():
            ctx.error(as_node, as_path, f"loop name {name!r} hides a variable of the same name")
        elif name is not None:
            args["as"] = name
    if "max" in keys:
        max_node, max_path = keys["max"][1], join(s.path, "max")
        bound = ctx.integer(max_node, max_path, 1)
        if bound is not None and bound > LOOP_LIMIT:
            ctx.error(max_node, max_path, f"loop bound {bound} exceeds the limit {LOOP_LIMIT}")
        elif bound is not None:
            args["max"] = bound
    extra: dict[str, Any] = {}
    body_scope = s.scope.adding([args["as"]] if args["as"] else [])
    if fan.loop_options(s, keys, extra):  # its items run side by side, like branches
        body_scope = body_scope.in_branch()
    if "while" in keys:
        args["while"] = ctx.expr(keys["while"][1], join(s.path, "while"), s.scope)
    flow.taint_loop(ctx, join(s.path, "for_each"), args["as"])
    args["do"] = s.actions(keys["do"][1], join(s.path, "do"), body_scope) if "do" in keys else []
    return {**{k: args[k] for k in ("for_each", "as", "while", "max", "do")}, **extra}


def _call(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    if isinstance(s.node, ScalarNode):
        keys: dict[str, tuple[Node, Node]] = {"task": (s.node, s.node)}
        task_path = s.path
    else:
        found = ctx.mapping(s.node, s.path, ("task", "with", "into"), required=("task",))
        if found is None or "task" not in found:
            return None
        keys, task_path = found, join(s.path, "task")
    task_node = keys["task"][1]
    name = ctx.text(task_node, task_path)
    if name is None:
        return None
    info = ctx.tasks.get(name)
    if info is None:
        ctx.error(task_node, task_path, f"unknown task {name!r}{close(name, ctx.tasks)}")
    given: dict[str, Any] = {}
    if "with" in keys:
        wpath = join(s.path, "with")
        for var, key, value in ctx.entries(keys["with"][1], wpath):
            ok, val = ctx.templates(value, join(wpath, var), s.scope)
            if info is not None and var not in info.inputs:
                hint = close(var, info.inputs)
                ctx.error(key, wpath, f"task {name!r} has no input {var!r}{hint}")
            elif ok and info is not None:
                fits, normal, problem = literal(info.inputs[var]["type"], val)
                if not fits:
                    ctx.error(value, join(wpath, var), f"{problem} for input {var!r}")
                val = normal if fits else val
            given[var] = jsonable(val)
    if info is not None:
        for var, spec in info.inputs.items():
            if spec["required"] and spec["default"] is None and var not in given:
                ctx.error(s.node, s.path, f"missing required input {var!r} of task {name!r}")
    into = kinds.into(s, keys, info.outputs if info else None, f"an output of task {name!r}")
    if info is not None:
        inputs = {var: spec.get("security") or "" for var, spec in info.inputs.items()}
        flow.settle_call(ctx, s.action_path, inputs)
        for var, output in into.items():
            out_spec = (info.outputs.get(output) or {}).get("security") or ""
            flow.check_into(ctx, keys["into"][1], join(s.path, "into"), var, output, out_spec)
    return {"task": name, "with": given, "into": into}


def _assign(s: Site) -> dict[str, Any]:
    ctx = s.ctx
    values: dict[str, Any] = {}
    entries = ctx.entries(s.node, s.path)
    if not entries and (isinstance(s.node, MappingNode) or is_null(s.node)):
        ctx.error(s.node, s.path, "assign needs at least one variable")
    for var, key, value in entries:
        vpath = join(s.path, var)
        var_type = s.scope.variables.get(var)
        if var_type is None:
            if var in s.scope.readable:
                ctx.error(key, s.path, f"{var!r} is read-only here")
            else:
                ctx.error(key, s.path, f"unknown variable {var!r}{close(var, s.scope.variables)}")
            continue
        ok, val = ctx.templates(value, vpath, s.scope)
        if not ok:
            continue
        fits, normal, problem = literal(var_type, val)
        if not fits:
            ctx.error(value, vpath, f"{problem} for variable {var!r}")
            continue
        values[var] = jsonable(normal)
    return {"values": values}


def _flow_allowed(s: Site) -> bool:
    if s.scope.where in ("state", "button"):
        return True
    kind = s.action["kind"]
    s.ctx.error(
        s.keys[kind][0],
        s.action_path,
        f"{kind} is only allowed in states (and form buttons), not in tasks",
    )
    return False


#: Decision (issue 16): a branch that changed the instance's state would end its sibling
#: branches as a side effect, so it may not; it ends, and the state changes after the join.
#: (end_process in a branch is fine: it ends the instance, and everything with it.)
IN_BRANCH = (
    "change_state is not allowed inside a parallel branch (it would end the sibling "
    "branches); end the branch and change state after the join"
)


def _change_state(s: Site) -> dict[str, Any] | None:
    name = s.ctx.text(s.node, s.path)
    if name is not None and name not in s.ctx.states:
        s.ctx.error(s.node, s.path, f"unknown state {name!r}{close(name, s.ctx.states)}")
    if s.scope.branch:
        s.ctx.error(s.keys["change_state"][0], s.action_path, IN_BRANCH)
    _flow_allowed(s)
    return {"state": name} if name is not None else None


def _end_process(s: Site) -> dict[str, Any]:
    ok, value = s.ctx.value(s.node, s.path)
    outcome = None
    if ok and value is not None:
        outcome = s.ctx.text(s.node, s.path, scalars=True)
        if outcome is not None and is_template(outcome):
            s.ctx.check_source(outcome, s.node, s.path, s.scope, template=True)
    _flow_allowed(s)
    return {"outcome": outcome}


def _message(s: Site) -> dict[str, Any] | None:
    text = s.ctx.text(s.node, s.path, scalars=True)
    if text is None:
        return None
    if is_template(text):
        s.ctx.check_source(text, s.node, s.path, s.scope, template=True)
    return {"message": text}


HANDLERS: dict[str, Handler] = {
    "assign": _assign,
    "if": _if,
    "switch": _switch,
    "loop": _loop,
    "parallel": fan.parallel,
    "call": _call,
    "start_process": kinds.start_process,
    "wait": kinds.wait,
    "run": kinds.run,
    "http": kinds.http,
    "sql": kinds.sql,
    "email": kinds.email,
    "log": _message,
    "change_state": _change_state,
    "end_process": _end_process,
    "raise": _message,
    "send_work_item": kinds.send_work_item,
    "milestone": milestones.parse_milestone,
}


def check_branch_forms(ctx: Ctx, forms: dict[str, Any]) -> None:
    """A work item sent inside a parallel branch runs its button's actions there: a
    button that changes state is refused for it, at the ``send_work_item``."""
    for form, node, path in ctx.branch_forms:
        for label, actions in (forms.get(form) or {}).get("buttons", {}).items():
            if any(a["kind"] == "change_state" for a in walk(actions)):
                ctx.error(node, path, f"form {form!r}'s button {label!r}: {IN_BRANCH}")
                break


def walk(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every action in a list, nested ones included (any action dict inside ``args``)."""
    out: list[dict[str, Any]] = []
    stack: list[Any] = list(reversed(actions))
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and "kind" in item and "args" in item and "path" in item:
            out.append(item)
            stack.extend(reversed(list(item["args"].values())))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out

"""Action kinds that reach outside the instance: start_process, wait, run, http, sql, email,
send_work_item. Each takes a :class:`Site` and returns the normalised ``args`` (or None when
the action's shape is too broken to go on; every problem is reported on the way).

``run``: a list command is argv as written; a string command is split with ``shlex.split``
(templates kept whole) unless ``shell: true``, where it stays one string for the shell. A
``timeout`` inside ``run`` is the action's timeout (lifted out of args).
"""

from __future__ import annotations

import re
import shlex
from datetime import date, datetime
from typing import Any

from switchyard.engine.definitions import flow
from switchyard.engine.definitions.ctx import (
    IDENT,
    Ctx,
    Site,
    close,
    describe,
    is_template,
    unknown,
)
from switchyard.engine.definitions.variables import literal
from switchyard.engine.definitions.yamlsrc import TAG, join, jsonable
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def into(
    s: Site, keys: dict[str, tuple[Node, Node]], outputs: dict[str, Any] | None, what: str
) -> dict[str, str]:
    """``into: {caller_var: other_name}``: keys assignable here; values in ``outputs`` when
    those are known."""
    if "into" not in keys:
        return {}
    ctx, ipath = s.ctx, join(s.path, "into")
    out: dict[str, str] = {}
    for var, key, value in ctx.entries(keys["into"][1], ipath):
        source = ctx.text(value, join(ipath, var))
        if var not in s.scope.variables:
            ctx.error(key, ipath, f"unknown variable {var!r}{close(var, s.scope.variables)}")
        if source is not None and outputs is not None and source not in outputs:
            ctx.error(value, join(ipath, var), f"{source!r} is not {what}{close(source, outputs)}")
        if source is not None:
            out[var] = source
    return out


def _template(s: Site, node: Node, path: str, *, scalars: bool = True) -> str | None:
    text = s.ctx.text(node, path, scalars=scalars)
    if text is not None and is_template(text):
        s.ctx.check_source(text, node, path, s.scope, template=True)
    return text


def _texts(s: Site, node: Node, path: str) -> list[str]:
    """One string or a list of strings (templates checked)."""
    if isinstance(node, SequenceNode):
        items = [_template(s, item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return [item for item in items if item is not None]
    one = _template(s, node, path)
    return [one] if one is not None else []


#: an HTTP header name (RFC 9110 token). A key is part of the path the information-flow
#: check reads (engine/definitions/flow.py): a header named ``x].log`` must not exist.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def _literal_map(s: Site, node: Node, path: str) -> dict[str, Any]:
    """Child variables / SQL bind parameters: identifier keys (a key is part of the path the
    flow check reads: ``vars: {"x].run.env.T": "{{ secret.t }}"}`` passed as run env)."""
    out: dict[str, Any] = {}
    for name, key, value in s.ctx.entries(node, path):
        if not IDENT.match(name):
            s.ctx.error(key, path, f"{name[:100]!r} is not a valid name (letters, digits, _)")
            continue
        ok, val = s.ctx.templates(value, join(path, name), s.scope)
        if ok:
            out[name] = jsonable(val)
    return out


def start_process(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("process", "version", "vars", "wait", "into", "on_cancel", "cancelled_into")
    keys = ctx.mapping(s.node, s.path, allowed, ("process",))
    if keys is None or "process" not in keys:
        return None
    pnode, ppath = keys["process"][1], join(s.path, "process")
    name = ctx.text(pnode, ppath)
    known = ctx.known.processes
    if name is not None and known is not None and name not in known | {ctx.process}:
        ctx.error(pnode, ppath, f"unknown process {name!r}{close(name, known)}")
    version = (
        ctx.integer(keys["version"][1], join(s.path, "version"), 1) if "version" in keys else None
    )
    wait = True
    if "wait" in keys:
        wait = ctx.flag(keys["wait"][1], join(s.path, "wait")) is not False
    variables = _literal_map(s, keys["vars"][1], join(s.path, "vars")) if "vars" in keys else {}
    if "into" in keys and not wait:
        ctx.error(keys["into"][0], s.path, "'into' needs 'wait: true' (the child's outputs)")
    outputs = into(s, keys, None, "")
    args = {"process": name, "version": version, "vars": variables, "wait": wait, "into": outputs}
    return {**args, **_on_cancel(s, keys, wait)}


ON_CANCEL = ("continue", "error")


def _on_cancel(s: Site, keys: dict[str, tuple[Node, Node]], wait: bool) -> dict[str, Any]:
    """``on_cancel: continue | error`` (a waited-for child that is cancelled: go on past
    the step, or fail it as before) and ``cancelled_into: VAR`` (a boolean variable set to
    whether the child was cancelled). Only what differs from the default is kept, so a
    definition without them normalises as before."""
    ctx, out = s.ctx, {}
    mode = "error"
    if "on_cancel" in keys:
        node, path = keys["on_cancel"][1], join(s.path, "on_cancel")
        value = ctx.text(node, path, scalars=True)
        if value is not None and value not in ON_CANCEL:
            ctx.error(node, path, unknown("on_cancel", value, ON_CANCEL))
        elif value is not None:
            mode = value
        if not wait:
            ctx.error(keys["on_cancel"][0], s.path, "'on_cancel' needs 'wait: true'")
    if mode == "continue":
        out["on_cancel"] = mode
    if "cancelled_into" in keys:
        node, path = keys["cancelled_into"][1], join(s.path, "cancelled_into")
        var = ctx.text(node, path)
        kind = s.scope.variables.get(var or "")
        if mode != "continue":
            ctx.error(
                keys["cancelled_into"][0], s.path, "'cancelled_into' needs 'on_cancel: continue'"
            )
        if var is not None and kind is None:
            ctx.error(node, path, f"unknown variable {var!r}{close(var, s.scope.variables)}")
        elif var is not None and kind != "boolean":
            ctx.error(node, path, f"variable {var!r} is {kind}: cancelled_into needs a boolean")
        elif var is not None:
            out["cancelled_into"] = var
    return out


def wait(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    keys = ctx.mapping(s.node, s.path, ("for", "until", "condition", "every", "timeout"))
    if keys is None:
        return None
    given = [k for k in ("for", "until", "condition") if k in keys]
    if len(given) != 1:
        found = f" (found {', '.join(given)})" if given else ""
        ctx.error(s.node, s.path, f"give exactly one of 'for', 'until' or 'condition'{found}")
    args: dict[str, Any] = {"for": None, "until": None, "condition": None, "every": 30.0}
    args["timeout"] = None
    if "for" in keys:
        args["for"] = ctx.duration_or_template(keys["for"][1], join(s.path, "for"), s.scope)
    if "until" in keys:
        args["until"] = _until(s, keys["until"][1], join(s.path, "until"))
    if "condition" in keys:
        args["condition"] = ctx.expr(keys["condition"][1], join(s.path, "condition"), s.scope)
    for name in ("every", "timeout"):
        if name in keys:
            if "condition" not in keys:
                ctx.error(keys[name][0], s.path, f"'{name}' is only used with 'condition'")
            value = ctx.duration_or_template(keys[name][1], join(s.path, name), s.scope)
            if value is not None:
                args[name] = value
    return args


def _until(s: Site, node: Node, path: str) -> str | None:
    ok, value = s.ctx.value(node, path)
    if not ok:
        return None
    if isinstance(value, datetime | date):
        return jsonable(literal("datetime", value)[1])  # type: ignore[no-any-return]
    if isinstance(value, str) and is_template(value):
        s.ctx.check_source(value, node, path, s.scope, template=True)
        return value
    fits, normal, problem = literal("datetime", value)
    if not fits:
        s.ctx.error(node, path, problem)
        return None
    return normal  # type: ignore[no-any-return]


def run(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("command", "shell", "cwd", "env", "timeout")
    keys = ctx.mapping(s.node, s.path, allowed, required=("command",))
    if keys is None or "command" not in keys:
        return None
    shell = bool(ctx.flag(keys["shell"][1], join(s.path, "shell"))) if "shell" in keys else False
    cnode, cpath = keys["command"][1], join(s.path, "command")
    command: list[str] | str | None = None
    if isinstance(cnode, SequenceNode):
        argv = [_argv(s, n, f"{cpath}[{i}]") for i, n in enumerate(cnode.value)]
        command = [c for c in argv if c is not None]
        if argv and argv[0] is not None and not argv[0].strip():
            ctx.error(cnode.value[0], f"{cpath}[0]", "the program to run is empty")
        if shell:
            ctx.error(cnode, cpath, "with 'shell: true' give the command as one string")
    elif not (isinstance(cnode, ScalarNode) and cnode.tag == f"{TAG}str"):
        ok, value = ctx.value(cnode, cpath)
        if ok:
            ctx.error(
                cnode, cpath, f"expected a string or a list of strings, got {describe(value)}"
            )
    else:
        text = _argv(s, cnode, cpath)
        if text is not None:
            command = text if shell else _split(s, cnode, cpath, text)
    if isinstance(cnode, SequenceNode) and not cnode.value:
        ctx.error(cnode, cpath, "the command is empty")
    cwd = _template(s, keys["cwd"][1], join(s.path, "cwd")) if "cwd" in keys else None
    env: dict[str, str] = {}
    if "env" in keys:
        epath = join(s.path, "env")
        for name, key, value in ctx.entries(keys["env"][1], epath):
            if not _ENV_NAME.match(name):
                ctx.error(key, epath, f"{name!r} is not a valid environment variable name")
            text = _template(s, value, join(epath, name))
            if text is not None:
                env[name] = text
    if "timeout" in keys:
        if s.action["timeout"] is not None:
            ctx.error(keys["timeout"][0], s.path, "timeout is given twice (here and on the action)")
        s.action["timeout"] = ctx.duration(keys["timeout"][1], join(s.path, "timeout"))
    return {"command": command, "shell": shell, "cwd": cwd, "env": env}


def _argv(s: Site, node: Node, path: str) -> str | None:
    text = s.ctx.text(node, path, scalars=True)
    if text is not None and is_template(text):
        s.ctx.check_source(text, node, path, s.scope, template=True)  # no secret: flow.py
    return text


def _split(s: Site, node: Node, path: str, text: str) -> list[str] | None:
    """shlex.split, keeping each ``{{ ... }}`` whole."""
    found: list[str] = []

    def hide(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return f"\x00{len(found) - 1}\x00"

    try:
        parts = shlex.split(_TEMPLATE.sub(hide, text))
    except ValueError as exc:
        s.ctx.error(node, path, f"cannot split the command: {exc}")
        return None
    if not parts:
        s.ctx.error(node, path, "the command is empty")
    return [re.sub(r"\x00(\d+)\x00", lambda m: found[int(m.group(1))], p) for p in parts]


def http(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("method", "url", "headers", "json", "body", "ca_bundle", "verify", "into", "expect")
    keys = ctx.mapping(s.node, s.path, allowed, required=("url",))
    if keys is None:
        return None
    args: dict[str, Any] = {"method": "GET", "url": None, "headers": {}, "json": None}
    args.update(body=None, ca_bundle=None, verify=True, into={}, expect=None)
    if "method" in keys:
        mnode, mpath = keys["method"][1], join(s.path, "method")
        method = ctx.text(mnode, mpath)
        if method is not None and method.upper() not in METHODS:
            ctx.error(mnode, mpath, unknown("method", method, METHODS))
        elif method is not None:
            args["method"] = method.upper()
    if "url" in keys:
        args["url"] = _template(s, keys["url"][1], join(s.path, "url"), scalars=False)
    if "headers" in keys:
        hpath = join(s.path, "headers")
        for name, key, value in ctx.entries(keys["headers"][1], hpath):
            if not _HEADER_NAME.match(name):
                ctx.error(key, hpath, f"{name[:100]!r} is not a valid header name")
                continue
            args["headers"][name] = _template(s, value, join(hpath, name))
    if "json" in keys:
        ok, value = ctx.templates(keys["json"][1], join(s.path, "json"), s.scope)
        args["json"] = jsonable(value) if ok else None
    if "body" in keys:
        args["body"] = _template(s, keys["body"][1], join(s.path, "body"))
        if "json" in keys:
            ctx.error(keys["body"][0], s.path, "give 'json' or 'body', not both")
    if "ca_bundle" in keys:
        args["ca_bundle"] = ctx.text(keys["ca_bundle"][1], join(s.path, "ca_bundle"))
    if "verify" in keys:
        args["verify"] = ctx.flag(keys["verify"][1], join(s.path, "verify")) is not False
    if "into" in keys:
        ipath = join(s.path, "into")
        for var, key, value in ctx.entries(keys["into"][1], ipath):
            if var not in s.scope.variables:
                ctx.error(key, ipath, f"unknown variable {var!r}{close(var, s.scope.variables)}")
            expr = ctx.expr(value, join(ipath, var), s.scope, extra=("response",))
            if expr is not None:
                args["into"][var] = expr
    if "expect" in keys:
        args["expect"] = _statuses(ctx, keys["expect"][1], join(s.path, "expect"))
    flow.settle(ctx, s.action_path, list(args["into"]))
    return args


def _statuses(ctx: Ctx, node: Node, path: str) -> list[int] | None:
    nodes = node.value if isinstance(node, SequenceNode) else [node]
    codes = [ctx.integer(n, path, 100, 599) for n in nodes]
    return [c for c in codes if c is not None]


def sql(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("connection", "query", "params", "into", "one")
    keys = ctx.mapping(s.node, s.path, allowed, required=("connection", "query"))
    if keys is None:
        return None
    args: dict[str, Any] = {"connection": None, "query": None, "params": {}, "into": None}
    args["one"] = False
    if "connection" in keys:
        cnode, cpath = keys["connection"][1], join(s.path, "connection")
        name = ctx.text(cnode, cpath)
        known = ctx.known.sql_connections
        if name is not None and known is not None and name not in known:
            ctx.error(cnode, cpath, f"unknown sql connection {name!r}{close(name, known)}")
        args["connection"] = name
    if "query" in keys:
        qnode, qpath = keys["query"][1], join(s.path, "query")
        query = ctx.text(qnode, qpath)
        if query is not None and is_template(query):
            ctx.error(qnode, qpath, "bind values with params, never format them into the query")
        args["query"] = query
    if "params" in keys:
        args["params"] = _literal_map(s, keys["params"][1], join(s.path, "params"))
    if "into" in keys:
        inode, ipath = keys["into"][1], join(s.path, "into")
        var = ctx.text(inode, ipath)
        if var is not None and var not in s.scope.variables:
            ctx.error(inode, ipath, f"unknown variable {var!r}{close(var, s.scope.variables)}")
        args["into"] = var
    if "one" in keys:
        args["one"] = bool(ctx.flag(keys["one"][1], join(s.path, "one")))
    flow.settle(ctx, s.action_path, [args["into"]] if args["into"] else [])
    return args


def email(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("to", "cc", "subject", "body", "attachments", "from")
    keys = ctx.mapping(s.node, s.path, allowed, required=("to", "subject", "body"))
    if keys is None:
        return None
    args: dict[str, Any] = {"to": [], "cc": [], "subject": None, "body": None}
    args.update(attachments=[], **{"from": None})
    for name in ("to", "cc", "attachments"):
        if name in keys:
            args[name] = _texts(s, keys[name][1], join(s.path, name))
    if "to" in keys and not args["to"] and isinstance(keys["to"][1], SequenceNode):
        ctx.error(keys["to"][1], join(s.path, "to"), "give at least one recipient")
    for name in ("subject", "body", "from"):
        if name in keys:
            args[name] = _template(s, keys[name][1], join(s.path, name))
    return args


def send_work_item(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    allowed = ("form", "to", "due", "priority", "reminders", "escalate")
    keys = ctx.mapping(s.node, s.path, allowed, required=("form", "to"))
    if keys is None:
        return None
    args: dict[str, Any] = {"form": None, "to": None, "due": None, "priority": 3}
    args.update(reminders=[], escalate=None)
    if "form" in keys:
        fnode, fpath = keys["form"][1], join(s.path, "form")
        form = ctx.text(fnode, fpath)
        if form is not None and form not in ctx.forms:
            ctx.error(fnode, fpath, f"unknown form {form!r}{close(form, ctx.forms)}")
        args["form"] = form
        if form is not None and s.scope.branch:  # its buttons run in the branch
            ctx.branch_forms.append((form, s.keys["send_work_item"][0], s.action_path))
    if "to" in keys:
        args["to"] = _route(s, keys["to"][1], join(s.path, "to"))
    if "due" in keys:
        args["due"] = ctx.duration(keys["due"][1], join(s.path, "due"))
    if "priority" in keys:
        args["priority"] = ctx.integer(keys["priority"][1], join(s.path, "priority"), 1, 5) or 3
    if "reminders" in keys:
        rnode, rpath = keys["reminders"][1], join(s.path, "reminders")
        nodes = rnode.value if isinstance(rnode, SequenceNode) else [rnode]
        found = [ctx.duration(n, f"{rpath}[{i}]") for i, n in enumerate(nodes)]
        args["reminders"] = [r for r in found if r is not None]
    if "escalate" in keys:
        args["escalate"] = _escalate(s, keys["escalate"][1], join(s.path, "escalate"))
    return args


def _escalate(s: Site, node: Node, path: str) -> dict[str, Any] | None:
    ctx = s.ctx
    keys = ctx.mapping(node, path, ("after", "to", "actions"), required=("after",))
    if keys is None:
        return None
    if "to" not in keys and "actions" not in keys:
        ctx.error(node, path, "escalate needs 'to', 'actions' or both")
    after = ctx.duration(keys["after"][1], join(path, "after")) if "after" in keys else None
    route = _route(s, keys["to"][1], join(path, "to")) if "to" in keys else None
    actions = s.actions(keys["actions"][1], join(path, "actions")) if "actions" in keys else []
    return {"after": after, "to": route, "actions": actions}


def _route(s: Site, node: Node, path: str) -> dict[str, str] | None:
    """``{user: login}`` or ``{workgroup: name}`` (a template is checked, not looked up)."""
    ctx = s.ctx
    if not isinstance(node, MappingNode):
        ctx.error(node, path, "expected {user: login} or {workgroup: name}")
        return None
    keys = ctx.mapping(node, path, ("user", "workgroup"))
    if keys is None:
        return None
    if len(keys) != 1:
        ctx.error(node, path, "give exactly one of 'user' or 'workgroup'")
        return None
    ((kind, (_key, value)),) = keys.items()
    name = _template(s, value, join(path, kind))
    known = ctx.known.workgroups if kind == "workgroup" else ctx.known.users
    if name is not None and not is_template(name) and known is not None and name not in known:
        ctx.error(value, path, f"unknown {kind} {name!r}{close(name, known)}")
    return {kind: name} if name is not None else None


__all__ = ["METHODS", "ScalarNode", "into"]

"""Forms: fields and buttons.

A field is a variable name (the field shows and edits that variable; its type follows the
variable's) or ``{name, type, label, multiline, required, choices, min, max, pattern,
readonly}``. A mapping field whose name is not a process variable is local to the form; its
value is readable (by that name) in the form's button actions. Each field normalises to::

    {"name", "type", "label", "multiline", "required", "choices", "min", "max", "pattern",
     "readonly", "variable": bool}

Buttons map a label to a list of actions, run in the process scope (``change_state`` and
``end_process`` allowed). Labels must differ, also ignoring case.
"""

from __future__ import annotations

from typing import Any

from switchyard.engine.definitions.actions import parse_actions
from switchyard.engine.definitions.ctx import IDENT, NAME, Ctx, Scope, close, describe, unknown
from switchyard.engine.definitions.yamlsrc import join, jsonable
from switchyard.engine.sandbox.form_patterns import pattern_problem
from yaml.nodes import Node, ScalarNode

FIELD_TYPES = ("text", "number", "decimal", "date", "choice", "checkbox", "display")
FIELD_KEYS = (
    *("name", "type", "label", "multiline", "required"),
    *("choices", "min", "max", "pattern", "readonly"),
)
FORM_KEYS = ("fields", "buttons")
BY_VARIABLE = {
    "string": "text",
    "integer": "number",
    "decimal": "decimal",
    "boolean": "checkbox",
    "date": "date",
    "datetime": "text",
    "list": "display",
    "map": "display",
}


def prepare(ctx: Ctx, node: Node, path: str) -> dict[str, dict[str, Any]]:
    """Parse every form's fields and register the form (``ctx.forms``); buttons come later,
    once every state is known. Returns ``{form: {"node", "keys", "fields"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for name, key, value in ctx.entries(node, path):
        fpath = join(path, name)
        if ctx.too_long(key, path, "form", name):
            pass
        elif not NAME.match(name):
            ctx.error(key, path, f"form name {name!r} is not valid")
        keys = ctx.mapping(value, fpath, FORM_KEYS, required=("fields", "buttons"))
        fields = (
            _fields(ctx, keys["fields"][1], join(fpath, "fields"))
            if keys and "fields" in keys
            else []
        )
        ctx.forms[name] = [f["name"] for f in fields]
        out[name] = {"node": value, "keys": keys or {}, "fields": fields}
    return out


def finish(ctx: Ctx, forms: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    """The normalised forms, buttons parsed."""
    types = {name: spec["type"] for name, spec in ctx.variables.items()}
    out: dict[str, Any] = {}
    for name, form in forms.items():
        local = {f["name"] for f in form["fields"] if not f["variable"]}
        scope = Scope("button", types, frozenset(local))
        buttons: dict[str, list[dict[str, Any]]] = {}
        if "buttons" in form["keys"]:
            bnode, bpath = form["keys"]["buttons"][1], join(join(path, name), "buttons")
            seen: dict[str, str] = {}
            entries = ctx.entries(bnode, bpath)
            for label, key, value in entries:
                if not label.strip():
                    ctx.error(key, bpath, "a button label cannot be empty")
                elif ctx.too_long(key, bpath, "button label", label):
                    continue
                elif label.strip().lower() in seen:
                    first = seen[label.strip().lower()]
                    ctx.error(key, bpath, f"duplicate button label {label!r} (also {first!r})")
                seen.setdefault(label.strip().lower(), label)
                buttons[label] = parse_actions(ctx, value, join(bpath, label), scope)
            if not entries and isinstance(bnode, type(form["node"])):
                ctx.error(bnode, bpath, "a form needs at least one button")
        out[name] = {"fields": form["fields"], "buttons": buttons}
    return out


def _fields(ctx: Ctx, node: Node, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(ctx.items(node, path)):
        ipath = f"{path}[{i}]"
        field = _variable_field(ctx, item, ipath) if isinstance(item, ScalarNode) else None
        if not isinstance(item, ScalarNode):
            field = _mapping_field(ctx, item, ipath)
        if field is None:
            continue
        if field["name"] in seen:
            ctx.error(item, ipath, f"duplicate field {field['name']!r}")
            continue
        seen.add(field["name"])
        out.append(field)
    return out


def _blank(name: str, type_name: str, variable: bool) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_name,
        "label": name.replace("_", " ").capitalize(),
        "multiline": False,
        "required": False,
        "choices": None,
        "min": None,
        "max": None,
        "pattern": None,
        "readonly": type_name == "display",
        "variable": variable,
    }


def _variable_field(ctx: Ctx, node: Node, path: str) -> dict[str, Any] | None:
    name = ctx.text(node, path)
    if name is None:
        return None
    spec = ctx.variables.get(name)
    if spec is None:
        ctx.error(node, path, f"unknown variable {name!r}{close(name, ctx.variables)}")
        return None
    field = _blank(name, BY_VARIABLE[spec["type"]], True)
    field["required"] = bool(spec["required"])
    return field


def _mapping_field(ctx: Ctx, node: Node, path: str) -> dict[str, Any] | None:
    keys = ctx.mapping(node, path, FIELD_KEYS, required=("name",))
    if keys is None or "name" not in keys:
        return None
    name = ctx.ident(keys["name"][1], join(path, "name"), "field")
    if name is None:
        return None
    spec = ctx.variables.get(name)
    type_name = BY_VARIABLE[spec["type"]] if spec else "text"
    if "type" in keys:
        tnode, tpath = keys["type"][1], join(path, "type")
        given = ctx.text(tnode, tpath)
        if given is not None and given not in FIELD_TYPES:
            ctx.error(tnode, tpath, unknown("field type", given, FIELD_TYPES))
        elif given is not None:
            type_name = given
    field = _blank(name, type_name, spec is not None)
    field["required"] = bool(spec and spec["required"])
    if "label" in keys:
        field["label"] = ctx.text(keys["label"][1], join(path, "label"), scalars=True)
    for flag in ("multiline", "required", "readonly"):
        if flag in keys:
            field[flag] = bool(ctx.flag(keys[flag][1], join(path, flag)))
    if field["multiline"] and type_name != "text":
        ctx.error(keys["multiline"][0], path, "multiline is only used with type: text")
    _choices(ctx, keys, path, field)
    _bounds(ctx, keys, path, field)
    if "pattern" in keys:
        pnode, ppath = keys["pattern"][1], join(path, "pattern")
        pattern = ctx.text(pnode, ppath)
        if pattern is not None:
            problem = pattern_problem(pattern)
            if problem is None:
                field["pattern"] = pattern
            else:
                ctx.error(pnode, ppath, problem)
        if type_name != "text":
            ctx.error(keys["pattern"][0], path, "pattern is only used with type: text")
    return field


def _choices(
    ctx: Ctx, keys: dict[str, tuple[Node, Node]], path: str, field: dict[str, Any]
) -> None:
    if "choices" not in keys:
        if field["type"] == "choice":
            ctx.error(keys["name"][0], path, "a choice field needs 'choices'")
        return
    cnode, cpath = keys["choices"][1], join(path, "choices")
    if field["type"] != "choice":
        ctx.error(keys["choices"][0], path, "choices are only used with type: choice")
    items = ctx.items(cnode, cpath)
    choices = []
    for i, item in enumerate(items):
        ok, value = ctx.value(item, f"{cpath}[{i}]")
        if ok and (isinstance(value, dict | list) or value is None):
            ctx.error(
                item, f"{cpath}[{i}]", f"a choice must be a plain value, got {describe(value)}"
            )
        elif ok:
            choices.append(jsonable(value))
    if not items and field["type"] == "choice" and not isinstance(cnode, ScalarNode):
        ctx.error(cnode, cpath, "a choice field needs at least one choice")
    field["choices"] = choices


def _bounds(ctx: Ctx, keys: dict[str, tuple[Node, Node]], path: str, field: dict[str, Any]) -> None:
    for bound in ("min", "max"):
        if bound not in keys:
            continue
        bnode, bpath = keys[bound][1], join(path, bound)
        ok, value = ctx.value(bnode, bpath)
        if not ok:
            continue
        if field["type"] in ("number", "decimal"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                ctx.error(bnode, bpath, f"expected a number, got {describe(value)}")
                continue
        elif field["type"] == "date":
            from switchyard.engine.definitions.variables import literal

            fits, value, problem = literal("date", value)
            if not fits:
                ctx.error(bnode, bpath, problem)
                continue
        else:
            ctx.error(keys[bound][0], path, f"{bound} is only used with number, decimal or date")
            continue
        field[bound] = value
    low, high = field["min"], field["max"]
    if low is not None and high is not None and low > high:
        ctx.error(keys["max"][1], join(path, "max"), f"max {high} is below min {low}")


__all__ = ["FIELD_TYPES", "IDENT", "finish", "prepare"]

"""Information flow at publish time: where secrets and secured variables may be read.

Every template or expression a definition holds is checked where it sits (its path names the
action kind and field: ``states.s.actions[2].run.env.TOKEN``).

Secrets (``secret.NAME``) are usable only where their value never becomes visible text:
the values of ``run.env`` and of ``http.headers``, and there only as a plain
``{{ secret.NAME }}`` (literal text around it is allowed: ``"Bearer {{ secret.token }}"``;
filters, slices, concatenation with other values are refused, since a transformed secret
escapes masking). SQL and SMTP credentials come from ``config.toml``, never a definition.

Secured variables (``security: SPEC``): a value computed from one may only flow into a
variable (assign target, task input, ``call``/``http``/``sql`` ``into``) secured by the same
spec. Text that leaves (log, raise, end_process, email, command line, ``cwd``, HTTP URL,
``wait.until``, work item routing, a child's ``start_process.vars``) may not read one at all.
``run.env`` and ``http.headers`` may (never shown; command output is masked by value);
HTTP bodies and SQL params may when every ``into`` target is secured by the same spec.
Conditions (``if``, ``switch``, loop ``while``, ``parallel.when``, ``wait.condition``) may:
a condition reveals one bit, standard practice in information-flow systems. A loop's
``as`` name is secured like what its ``for_each`` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jinja2
from jinja2 import nodes

if TYPE_CHECKING:
    from switchyard.engine.definitions.ctx import Ctx, Scope
    from yaml.nodes import Node

KINDS = (
    "assign|if|switch|loop|parallel|call|start_process|wait|run|http|sql|email|log"
    "|change_state|end_process|raise|send_work_item"
)
_SITE = re.compile(rf".*\]\.({KINDS})(?:\.(.*))?\Z", re.DOTALL)
_TASK = re.compile(r"\Atasks\.([^.]+)\.")
_PARSER = jinja2.Environment()  # parsing only
SECRET_SINKS = "run env and http headers, as a plain {{ secret.NAME }}"
#: (kind, first field of the rest of the path) where a plain secret may be read
_SECRET_OK = {("run", "env"), ("http", "headers")}
#: where a secured variable may be read whatever the destination
_SECURED_OK = {
    ("run", "env"),
    ("http", "headers"),
    ("if", ""),
    ("switch", ""),
    ("loop", "while"),
    ("loop", "for_each"),
    ("parallel", "branches"),
    ("wait", "condition"),
}
#: where a secured variable may be read when every `into` target has the same spec
_SETTLED = {("http", "body"), ("http", "json"), ("sql", "params")}


@dataclass
class FlowState:
    """Per-definition memory of the checks: loop names secured by what they iterate, and
    reads waiting for their action's targets (HTTP bodies, SQL params, task inputs)."""

    taint: dict[str, set[str]] = field(default_factory=dict)
    pending: dict[str, list[Pending]] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    node: Node
    path: str
    head: str
    rest: str
    read: dict[str, str]  # variable name -> its spec


def parse(text: str, template: bool) -> nodes.Template | None:
    """The Jinja tree of a template or bare expression (None if it does not parse: the
    sandbox's own check reports that)."""
    sources = [text] if template else ["{{ " + text + " }}", text]
    for source in sources:
        try:
            return _PARSER.parse(source)
        except (jinja2.TemplateError, RecursionError, ValueError):
            continue
    return None


def secret_refs(tree: nodes.Node) -> list[tuple[str | None, bool]]:
    """``(key, plain)`` for every use of ``secret`` in a tree: ``plain`` when the use is
    ``{{ secret.NAME }}`` alone in its output, nothing applied to it."""
    plain = {
        id(child)
        for out in tree.find_all(nodes.Output)
        for child in out.nodes
        if _is_plain_secret(child)
    }
    used: set[int] = set()
    found: list[tuple[str | None, bool]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        if _on_secret(node):
            used.add(id(node.node))
            found.append((_key(node), id(node) in plain))
    for name in tree.find_all(nodes.Name):
        if name.name == "secret" and id(name) not in used:
            found.append((None, False))
    return found


def _on_secret(node: nodes.Node) -> bool:
    owner = getattr(node, "node", None)
    return isinstance(owner, nodes.Name) and owner.name == "secret"


def _key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return str(node.arg.value)
    return None


def _is_plain_secret(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Getattr):
        return _on_secret(node)
    if isinstance(node, nodes.Getitem):
        return _on_secret(node) and isinstance(node.arg, nodes.Const)
    return False


def site_of(path: str) -> tuple[str, str, str]:
    """``(kind, field, rest)`` of a template's path: ``run.env.TOKEN`` -> run, env, TOKEN."""
    match = _SITE.match(path)
    if match is None:
        return "", "", ""
    kind, rest = match.group(1), match.group(2) or ""
    head, _, tail = rest.partition(".")
    return kind, re.sub(r"\[\d+\]\Z", "", head), tail


def specs_in(ctx: Ctx, path: str) -> dict[str, str]:
    """Variable name -> security spec, for the variables visible at ``path``."""
    out = {n: s["security"] for n, s in ctx.variables.items() if s.get("security")}
    task = _TASK.match(path)
    if task and task.group(1) in ctx.tasks:
        for name, spec in ctx.tasks[task.group(1)].variables().items():
            out.pop(name, None)
            if spec.get("security"):
                out[name] = spec["security"]
    return out


def check(
    ctx: Ctx, text: str, template: bool, names: set[str], node: Node, path: str, scope: Scope
) -> None:
    """Report every forbidden read of a secret or a secured variable in one template."""
    tree = parse(text, template)
    if tree is None:
        return
    kind, head, rest = site_of(path)
    for key, plain in secret_refs(tree):
        if not (plain and template and (kind, head) in _SECRET_OK):
            what = f"secret.{key}" if key else "secret"
            ctx.error(node, path, f"{what} may only be used in {SECRET_SINKS}")
    read = _secured_reads(ctx, names, path, scope)
    if not read:
        return
    if kind == "loop" and head == "for_each":
        ctx.flow.taint.setdefault(_FOR_EACH + path, set()).update(read.values())
    if (kind, head) in _SECURED_OK:
        return
    specs = specs_in(ctx, path)
    if kind == "assign" or (kind, head) == ("http", "into"):
        var = head if kind == "assign" else rest
        for name, spec in read.items():
            if specs.get(var, "") != spec:
                ctx.error(node, path, _flow_message(name, spec, var, specs.get(var, "")))
        return
    if (kind, head) in _SETTLED or (kind, head) == ("call", "with"):
        action = path[: path.rindex("]." + kind) + 1]
        ctx.flow.pending.setdefault(action, []).append(Pending(node, path, head, rest, read))
        return
    where = f"{kind}.{head}" if head else kind
    for name, spec in read.items():
        ctx.error(
            node,
            path,
            f"{name} is secured by {spec!r}: {where} may not read it "
            "(that text is shown to people outside the spec)",
        )


_FOR_EACH = "\0for_each:"


def _secured_reads(ctx: Ctx, names: set[str], path: str, scope: Scope) -> dict[str, str]:
    specs = specs_in(ctx, path)
    read: dict[str, str] = {}
    for name in sorted(names):
        if name in scope.readable:
            for spec in sorted(ctx.flow.taint.get(name, ())):
                read[name] = spec
        elif name in specs:
            read[name] = specs[name]
    return read


def _flow_message(name: str, spec: str, var: str, target: str) -> str:
    shown = f"secured by {target!r}" if target else "not secured"
    return (
        f"{name} is secured by {spec!r}: it may only flow into a variable secured by "
        f"{spec!r}, and {var!r} is {shown}"
    )


def taint_loop(ctx: Ctx, for_each_path: str, name: str | None) -> None:
    """The loop's ``as`` name is secured like what its ``for_each`` read."""
    read = ctx.flow.taint.pop(_FOR_EACH + for_each_path, None)
    if name and read:
        ctx.flow.taint.setdefault(name, set()).update(read)


def settle(ctx: Ctx, action_path: str, into: list[str]) -> None:
    """An HTTP body / SQL params that read a secured variable: every ``into`` target must be
    secured by the same spec (the answer may echo the value)."""
    specs = specs_in(ctx, action_path)
    for item in ctx.flow.pending.pop(action_path, []):
        for var in into:
            for name, spec in item.read.items():
                if specs.get(var, "") != spec:
                    message = _flow_message(name, spec, var, specs.get(var, ""))
                    ctx.error(item.node, item.path, message)


def settle_call(ctx: Ctx, action_path: str, inputs: dict[str, str]) -> None:
    """``call ... with: {input: value}``: a secured value flows only into an input of its
    spec (``inputs``: input name -> its spec, '' when not secured)."""
    for item in ctx.flow.pending.pop(action_path, []):
        target = inputs.get(item.rest, "")
        for name, spec in item.read.items():
            if target != spec:
                shown = f"secured by {target!r}" if target else "not secured"
                ctx.error(
                    item.node,
                    item.path,
                    f"{name} is secured by {spec!r}: it may only flow into a task input "
                    f"secured by {spec!r}, and {item.rest!r} is {shown}",
                )


def check_into(ctx: Ctx, node: Node, path: str, var: str, output: str, spec: str) -> None:
    """``call ... into: {var: output}``: a secured task output flows only into its spec."""
    if not spec:
        return
    target = specs_in(ctx, path).get(var, "")
    if target != spec:
        ctx.error(node, path, _flow_message(f"output {output}", spec, var, target))

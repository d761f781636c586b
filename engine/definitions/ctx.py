"""The validation context: issues collected with their locations, the names a definition
declares, and the checks every section shares (keys, scalars, durations, expressions)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jinja2
from jinja2 import nodes
from switchyard.engine.definitions import flow
from switchyard.engine.definitions.model import Issue, Known
from switchyard.engine.definitions.yamlsrc import (
    Unsupported,
    is_null,
    join,
    loc,
    node_kind,
    pairs,
    scalar,
    to_py,
)
from switchyard.engine.sandbox.expressions import HELPERS, Sandbox
from switchyard.engine.sandbox.limits import ExpressionError
from switchyard.engine.schedules.triggers import TriggerError, parse_duration
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")  # states, tasks, forms
MAX_NAME = 200  # characters of any name a definition declares (as lane names)
#: Names a definition may not use for its variables (provided by the engine or by Jinja).
RESERVED = frozenset(
    {"secret", "now", "response", "instance", "self", "loop", "true", "false", "none"}
    | {"True", "False", "None", "and", "or", "not", "in", "is", "if", "else"}
    | HELPERS
)
ENGINE_NAMES = frozenset({"secret", "instance"})  # readable everywhere
_PARSER = jinja2.Environment()  # parsing only, to find which secrets a template reads


@dataclass(frozen=True)
class Scope:
    """Where actions run: ``where`` is state, task or button; ``variables`` maps each
    assignable name to its type; ``readable`` adds read-only names (loop ``as``, form fields)."""

    where: str
    variables: Mapping[str, str]
    readable: frozenset[str] = frozenset()
    branch: bool = False  # inside a parallel branch (change_state is refused there)

    def names(self) -> set[str]:
        return set(self.variables) | self.readable | ENGINE_NAMES

    def adding(self, names: Iterable[str]) -> Scope:
        return replace(self, readable=self.readable | frozenset(names))

    def in_branch(self) -> Scope:
        return replace(self, branch=True)


@dataclass
class Site:
    """One action being parsed: ``node`` is the value of its kind key, ``path`` that key's
    path; ``keys`` all entries of the action mapping; ``parse`` parses a nested action list."""

    ctx: Ctx
    node: Node
    path: str
    action_path: str
    scope: Scope
    keys: dict[str, tuple[Node, Node]]
    action: dict[str, Any]
    parse: Callable[[Ctx, Node, str, Scope], list[dict[str, Any]]]

    def actions(self, node: Node, path: str, scope: Scope | None = None) -> list[dict[str, Any]]:
        return self.parse(self.ctx, node, path, scope or self.scope)


@dataclass
class TaskInfo:
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    local: dict[str, dict[str, Any]] = field(default_factory=dict)

    def variables(self) -> dict[str, dict[str, Any]]:
        return {**self.local, **self.outputs, **self.inputs}


@dataclass
class MilestoneUses:
    """The milestones a definition reaches, and the names its guards and leaves refer to
    (checked against each other at the end: engine/definitions/milestones.py)."""

    reached: set[str] = field(default_factory=set)
    referred: list[tuple[str, Node, str]] = field(default_factory=list)


@dataclass
class Ctx:
    filename: str
    known: Known
    sandbox: Sandbox
    issues: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    process: str = ""
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, Node] = field(default_factory=dict)
    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    forms: dict[str, list[str]] = field(default_factory=dict)  # form -> its field names
    #: (form, node, path) of work items sent inside a parallel branch: their buttons run there
    branch_forms: list[tuple[str, Node, str]] = field(default_factory=list)
    flow: flow.FlowState = field(default_factory=flow.FlowState)  # secrets, secured values
    milestones: MilestoneUses = field(default_factory=MilestoneUses)

    # -- reporting --

    def report(self, line: int, col: int, path: str, message: str) -> None:
        self.issues.append(Issue(self.filename, line, col, path or "(top)", message))

    def error(self, node: Node, path: str, message: str) -> None:
        line, col = loc(node)
        self.report(line, col, path, message)

    def warn(self, node: Node, path: str, message: str) -> None:
        line, col = loc(node)
        self.warnings.append(Issue(self.filename, line, col, path, message, "warning"))

    def too_long(self, node: Node, path: str, what: str, name: str) -> bool:
        """Report (and say True) when a declared name is over MAX_NAME characters."""
        if len(name) <= MAX_NAME:
            return False
        self.error(node, path, f"{what} name is {len(name):,} characters long (limit {MAX_NAME})")
        return True

    # -- shapes --

    def mapping(
        self,
        node: Node,
        path: str,
        allowed: Iterable[str],
        required: Iterable[str] = (),
        what: str = "key",
    ) -> dict[str, tuple[Node, Node]] | None:
        """The mapping's entries ``key -> (key node, value node)``; unknown and missing keys
        reported. None (reported) when the node is not a mapping."""
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping, got a {node_kind(node)}")
            return None
        allowed = list(allowed)
        out: dict[str, tuple[Node, Node]] = {}
        for key, value in pairs(node):
            if not isinstance(key, ScalarNode):
                continue  # reported by check_tree
            name = key.value
            if name in out:
                continue  # duplicate: reported by check_tree
            if name not in allowed:
                self.error(key, path, unknown(what, name, allowed))
                continue
            out[name] = (key, value)
        for name in required:
            if name not in out:
                self.error(node, path, f"missing required key {name!r}")
        return out

    def entries(self, node: Node, path: str) -> list[tuple[str, Node, Node]]:
        """Name/key node/value node of a mapping whose keys are free names (null: none)."""
        if is_null(node):
            return []
        if not isinstance(node, MappingNode):
            self.error(node, path, f"expected a mapping, got a {node_kind(node)}")
            return []
        seen: set[str] = set()
        out: list[tuple[str, Node, Node]] = []
        for key, value in pairs(node):
            if isinstance(key, ScalarNode) and key.value not in seen:
                seen.add(key.value)
                out.append((key.value, key, value))
        return out

    def items(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.error(node, path, f"expected a list, got a {node_kind(node)}")
            return []
        return list(node.value)

    # -- scalars --

    def value(self, node: Node, path: str) -> tuple[bool, Any]:
        """``(ok, plain value)`` of any node; an unsupported node is reported."""
        try:
            return True, to_py(node)
        except Unsupported as exc:
            self.error(exc.node, path, str(exc))
            return False, None

    def text(self, node: Node, path: str, *, scalars: bool = False) -> str | None:
        """A string; with ``scalars`` numbers and booleans are accepted as their text."""
        ok, value = self.value(node, path)
        if ok and isinstance(value, str):
            return value
        if ok and scalars and isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if ok:
            self.error(node, path, f"expected a string, got {describe(value)}")
        return None

    def flag(self, node: Node, path: str) -> bool | None:
        ok, value = self.value(node, path)
        if ok and isinstance(value, bool):
            return value
        if ok:
            self.error(node, path, f"expected true or false, got {describe(value)}")
        return None

    def integer(self, node: Node, path: str, low: int, high: int | None = None) -> int | None:
        ok, value = self.value(node, path)
        if not ok:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(node, path, f"expected an integer, got {describe(value)}")
            return None
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            self.error(node, path, f"{value} is out of range (expected {span})")
            return None
        return value

    def duration(self, node: Node, path: str) -> float | None:
        """Seconds of ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m`` or a number of seconds."""
        ok, value = self.value(node, path)
        if not ok:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.error(node, path, f"expected a duration like 30s, 5m, 2h, got {describe(value)}")
            return None
        try:
            return parse_duration(str(value)).total_seconds()
        except TriggerError as exc:
            self.error(node, path, f"bad duration: {exc.message}")
            return None

    def duration_or_template(self, node: Node, path: str, scope: Scope) -> float | str | None:
        """A duration, or a template giving one when the action runs (checked there:
        a number of seconds or a text like ``2h``)."""
        ok, value = self.value(node, path)
        if ok and isinstance(value, str) and is_template(value):
            self.check_source(value, node, path, scope, template=True)
            return value
        return self.duration(node, path)

    def ident(self, node: Node, path: str, what: str) -> str | None:
        name = self.text(node, path)
        if name is None:
            return None
        if self.too_long(node, path, what, name):
            return None
        if not IDENT.match(name):
            self.error(node, path, f"{what} {name!r} is not a valid name (letters, digits, _)")
            return None
        return name

    # -- expressions and templates --

    def expr(self, node: Node, path: str, scope: Scope, extra: Iterable[str] = ()) -> str | None:
        """A bare expression: it parses, and reads only names in scope (plus ``extra``)."""
        text = self.text(node, path, scalars=True)
        if text is None:
            return None
        self.check_source(text, node, path, scope, template=False, extra=extra)
        return text

    def check_source(
        self,
        text: str,
        node: Node,
        path: str,
        scope: Scope,
        *,
        template: bool,
        extra: Iterable[str] = (),
    ) -> bool:
        what = "template" if template else "expression"
        try:
            if template:
                self.sandbox.check_template(text)
            else:
                self.sandbox.check(text)
            names = self.sandbox.names(text, template=template)
        except ExpressionError as exc:
            self.error(node, path, f"bad {what}: {exc}")
            return False
        for name in sorted(names - scope.names() - set(extra)):
            hint = close(name, scope.names() | set(extra))
            self.error(node, path, f"unknown name {name!r} in {what}{hint}")
        if self.known.secrets is not None and "secret" in names:
            for key in sorted(secret_keys(text, template) - self.known.secrets):
                self.error(node, path, f"unknown secret {key!r}")
        flow.check(self, text, template, names, node, path, scope)
        return True

    def templates(self, node: Node, path: str, scope: Scope) -> tuple[bool, Any]:
        """A literal value whose strings may be templates (checked); ``(ok, plain value)``."""
        ok, value = self.value(node, path)
        if ok:
            for text in strings(value):
                if is_template(text):
                    self.check_source(text, node, path, scope, template=True)
        return ok, value


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def reads_secret(text: str, template: bool) -> bool:
    try:
        tree = _PARSER.parse(text if template else "{{ " + text + " }}")
    except jinja2.TemplateError:
        return "secret" in text
    return any(n.name == "secret" for n in tree.find_all(nodes.Name))


def secret_keys(text: str, template: bool) -> set[str]:
    """The keys of ``secret.KEY`` / ``secret['KEY']`` a template or expression reads."""
    try:
        tree = _PARSER.parse(text if template else "{{ " + text + " }}")
    except jinja2.TemplateError:
        return set()
    keys: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        owner = getattr(node, "node", None)
        if not (isinstance(owner, nodes.Name) and owner.name == "secret"):
            continue
        if isinstance(node, nodes.Getattr):
            keys.add(node.attr)
        elif isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if isinstance(key, str):
                keys.add(key)
    return keys


def describe(value: Any) -> str:
    from switchyard.engine.definitions.yamlsrc import kind_name

    shown = repr(value) if not isinstance(value, dict | list) else ""
    return f"{kind_name(value)} {shown}".strip()


def close(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown(what: str, name: str, allowed: Iterable[str]) -> str:
    allowed = sorted(allowed)
    hint = close(name, allowed)
    listing = ", ".join(allowed) if len(allowed) <= 12 else ", ".join(allowed[:12]) + ", ..."
    return f"unknown {what} {name!r}{hint} (expected one of: {listing})"


def node_text(node: Node) -> str:
    return str(node.value) if isinstance(node, ScalarNode) else ""


__all__ = ["RESERVED", "Ctx", "Scope", "Site", "TaskInfo", "join", "scalar"]

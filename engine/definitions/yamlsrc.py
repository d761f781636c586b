"""YAML with line marks: compose a node tree (PyYAML, libyaml when present), find duplicate
keys, turn nodes into plain values. Lines and columns handed out are 1-based."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{TAG}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAP, _SEQ, _MERGE = f"{TAG}map", f"{TAG}seq", f"{TAG}merge"

#: the longest integer literal read (0x + 1024 hex digits: past Python's 4300-digit limit of
#: int <-> str, which a hex or binary literal does not meet, ``repr`` of it would fail)
MAX_INT_CHARS = 1030
Report = Callable[[int, int, str, str], None]  # line, col, path, message

#: Bounds of a definition file (a file is data from people: it must not exhaust the node).
MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64  # nested mappings and lists
#: Nodes of the document once every alias (``*name``, also under ``<<:``) is expanded: an
#: alias counts every node of what it names, each time it is used ("billion laughs").
MAX_NODES = 100_000


class Unsupported(ValueError):
    """A node that cannot become a plain value (an exotic tag, a non-scalar key)."""

    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == f"{TAG}null"


def loc(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def compose(text: str, report: Report) -> Node | None:
    """The root node, or None after reporting a syntax error (at the mark, path ``(yaml)``)."""
    try:
        return yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        lines = text.splitlines()
        if mark and 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            message += " (a tab character: YAML is indented with spaces only)"
        report(line, col, "(yaml)", f"YAML syntax error: {message}")
    except yaml.YAMLError as exc:  # e.g. ReaderError: a control character
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        report(line, col, "(yaml)", f"YAML error: {exc}")
    return None


def preflight(text: str, report: Report) -> bool:
    """Check the size, nesting depth and alias-expanded node count of ``text`` from its
    parse events, before any node tree is built or expanded. False after reporting a bound
    (at the offending position); True otherwise (syntax errors are left to :func:`compose`).
    """
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        report(1, 1, "(file)", f"the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
        return False
    sizes: dict[str, int] = {}  # anchor -> expanded node count of what it names
    stack: list[tuple[str | None, int]] = []  # open collections: (anchor, nodes so far)
    total = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            if not isinstance(event, NodeEvent | CollectionEndEvent):
                continue
            mark = event.start_mark
            assert mark is not None  # the parser marks every event it yields
            line, col = mark.line + 1, mark.column + 1
            if isinstance(event, CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    report(line, col, "(yaml)", f"nested deeper than {MAX_DEPTH} levels")
                    return False
                stack.append((event.anchor, 1))
                continue
            if isinstance(event, CollectionEndEvent):
                anchor, count = stack.pop()
            elif isinstance(event, AliasEvent):
                anchor, count = None, sizes.get(event.anchor or "", 1)
            else:  # a scalar
                anchor, count = getattr(event, "anchor", None), 1
            if anchor:
                sizes[anchor] = count
            total += count if isinstance(event, AliasEvent | ScalarEvent) else 0
            if total > MAX_NODES:
                what = f"alias *{event.anchor}: " if isinstance(event, AliasEvent) else ""
                report(
                    line,
                    col,
                    "(yaml)",
                    f"{what}the document expands to more than {MAX_NODES:,} values "
                    "(aliases and merge keys count what they repeat, each time)",
                )
                return False
            if stack:
                parent_anchor, parent_count = stack[-1]
                stack[-1] = (parent_anchor, parent_count + count)
    except yaml.YAMLError:
        return True  # compose reports it, with its position
    return True


def pairs(node: MappingNode) -> list[tuple[Node, Node]]:
    """Key/value node pairs of a mapping, merge keys (``<<: *anchor``) expanded; explicit keys
    win over merged ones, and earlier merged mappings over later ones."""
    explicit = [(k, v) for k, v in node.value if k.tag != _MERGE]
    names = {k.value for k, _ in explicit if isinstance(k, ScalarNode)}
    merged: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if key.tag != _MERGE:
            continue
        sources = value.value if isinstance(value, SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, MappingNode):
                continue
            for mkey, mvalue in pairs(source):
                if isinstance(mkey, ScalarNode) and mkey.value not in names:
                    names.add(mkey.value)
                    merged.append((mkey, mvalue))
    return merged + explicit


def check_tree(root: Node, report: Report) -> None:
    """Duplicate keys, non-scalar keys and unsupported tags anywhere in the tree."""
    stack: list[tuple[Node, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:  # an alias: already checked
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            if node.tag != _MAP:
                report(*loc(node), path or "(top)", f"unsupported YAML tag {node.tag!r}")
            first: dict[Any, Node] = {}
            for key, value in node.value:
                if key.tag == _MERGE:
                    stack.append((value, path))
                    continue
                if not isinstance(key, ScalarNode):
                    report(*loc(key), path or "(top)", "a key must be a plain value")
                    continue
                if key.value in first:
                    line = first[key.value].start_mark.line + 1
                    what = "button label" if path.endswith(".buttons") else "key"
                    message = f"duplicate {what} {key.value!r} (first at line {line})"
                    report(*loc(key), path or "(top)", message)
                else:
                    first[key.value] = key
                stack.append((value, join(path, key.value)))
        elif isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                report(*loc(node), path or "(top)", f"unsupported YAML tag {node.tag!r}")
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
        elif node.tag not in _SCALAR_TAGS:
            report(*loc(node), path or "(top)", f"unsupported YAML tag {node.tag!r}")


def scalar(node: ScalarNode) -> Any:
    """The plain value of a scalar node (str, int, float, bool, None, date, datetime)."""
    if node.tag not in _SCALAR_TAGS:
        raise Unsupported(node, f"unsupported YAML tag {node.tag!r}")
    if node.tag == f"{TAG}int" and len(node.value) > MAX_INT_CHARS:
        raise Unsupported(
            node, f"integer of {len(node.value):,} characters (at most {MAX_INT_CHARS})"
        )
    try:
        return yaml.constructor.SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError) as exc:
        raise Unsupported(node, f"bad value {shorten(node.value)!r}: {exc}") from None


def shorten(text: str, limit: int = 80) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis (for messages)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_py(node: Node) -> Any:
    """Plain nested value of a node; dates and datetimes stay Python objects."""
    if isinstance(node, ScalarNode):
        return scalar(node)
    if isinstance(node, SequenceNode):
        return [to_py(item) for item in node.value]
    if isinstance(node, MappingNode):
        out: dict[Any, Any] = {}
        for key, value in pairs(node):
            if not isinstance(key, ScalarNode):
                raise Unsupported(key, "a key must be a plain value")
            out.setdefault(jsonable(scalar(key)), to_py(value))
        return out
    raise Unsupported(node, "unsupported YAML node")


def jsonable(value: Any) -> Any:
    """Dates and datetimes to ISO strings, recursively; other values unchanged."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {jsonable(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def kind_name(value: Any) -> str:
    """A short name of a value's YAML type, for messages."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, dict):
        return "mapping"
    return names.get(type(value), type(value).__name__)


def node_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    try:
        return kind_name(scalar(node)) if isinstance(node, ScalarNode) else "value"
    except Unsupported:
        return "value"

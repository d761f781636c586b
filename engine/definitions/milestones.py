"""Milestones (workflow pattern 18): named points an instance reaches and later leaves,
and the steps offered only while one holds.

``- milestone: booked`` reaches ``booked`` (it holds from then on), ``- milestone:
{leave: booked}`` leaves it. A ``send_work_item`` or ``wait`` carrying ``when_milestone:
booked`` waits until the milestone is reached, runs while it holds, and is withdrawn when
it is left (its item cancelled with the reason, the step ended ``skipped``); a guarded
step reached after the milestone was left is not offered at all. The typical use is a
parallel branch offering an item while another branch has not moved past the milestone.

Names need no declaration: a milestone exists because an action reaches it. A guard or a
``leave`` naming a milestone that no action of the definition reaches is refused (with
``file:line:col``), as a typo would otherwise wait for ever.
"""

from __future__ import annotations

from typing import Any

from switchyard.engine.definitions.ctx import Ctx, Site, close
from switchyard.engine.definitions.yamlsrc import join
from yaml.nodes import MappingNode, Node

#: the action kinds a ``when_milestone`` may guard (they wait; nothing else does)
GUARDED = ("send_work_item", "wait")
REACH, LEAVE = "reach", "leave"


def parse_milestone(s: Site) -> dict[str, Any] | None:
    """``milestone: NAME`` | ``milestone: {reach: NAME}`` | ``milestone: {leave: NAME}``."""
    ctx = s.ctx
    if isinstance(s.node, MappingNode):
        keys = ctx.mapping(s.node, s.path, (REACH, LEAVE))
        if keys is None:
            return None
        if len(keys) != 1:
            ctx.error(s.node, s.path, "give exactly one of 'reach' or 'leave'")
            return None
        ((op, (_key, node)),) = keys.items()
        path = join(s.path, op)
    else:
        op, node, path = REACH, s.node, s.path
    name = ctx.ident(node, path, "milestone")
    if name is None:
        return None
    if op == REACH:
        ctx.milestones.reached.add(name)
    else:
        ctx.milestones.referred.append((name, node, path))
    return {"name": name, "op": op}


def guard(ctx: Ctx, kind: str, key: Node, node: Node, path: str) -> str | None:
    """The ``when_milestone`` modifier of an action of ``kind``."""
    if kind not in GUARDED:
        ctx.error(key, path, f"when_milestone guards send_work_item or wait, not {kind}")
        return None
    gpath = join(path, "when_milestone")
    name = ctx.ident(node, gpath, "milestone")
    if name is not None:
        ctx.milestones.referred.append((name, node, gpath))
    return name


def check(ctx: Ctx) -> None:
    """After the whole definition: every milestone referred to is reached somewhere."""
    found = ctx.milestones
    for name, node, path in found.referred:
        if name not in found.reached:
            hint = close(name, found.reached)
            ctx.error(
                node,
                path,
                f"unknown milestone {name!r}{hint}: no action reaches it "
                "(reach it with '- milestone: NAME')",
            )

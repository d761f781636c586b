"""The grammar of the parallel forms: ``parallel`` (branches, joins, ``cancel_rest``,
``then``, ``interleaved``) and the parallel options of a ``for_each`` loop.

::

    parallel:
      join: all | first | each | N      # N: that many branches complete (1 <= N <= branches)
      cancel_rest: false                # first / N only: the others finish (default: cancelled)
      then: [...]                       # join: each (once per branch), or cancel_rest: false
      interleaved: true                 # join: all only: the branches' actions one at a time
      branches: [[...], {when: expr, do: [...]}]

    loop: {for_each: expr, as: x, parallel: true, max_concurrency: 10,
           join: all | first | N, grows: true, do: [...]}

A loop's first / N join always cancels the items still under way (it has no ``then`` for a
non-cancelling join to go on with: its items would just finish as with ``join: all``).
"""

from __future__ import annotations

from typing import Any

from switchyard.engine.definitions.actions_limits import LOOP_LIMIT
from switchyard.engine.definitions.ctx import Ctx, Site
from switchyard.engine.definitions.yamlsrc import join
from yaml.nodes import Node, SequenceNode

PARALLEL_KEYS = ("join", "cancel_rest", "then", "interleaved", "branches")
LOOP_KEYS = ("parallel", "max_concurrency", "join", "grows")


def join_mode(ctx: Ctx, node: Node, path: str, *, each: bool) -> str | int | None:
    """``all``, ``first`` (``each`` for branches) or a number of units >= 1."""
    ok, value = ctx.value(node, path)
    if not ok:
        return None
    names = ("all", "first", "each") if each else ("all", "first")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            ctx.error(node, path, f"join: a number of completions must be at least 1, got {value}")
            return None
        return value
    if isinstance(value, str) and value in names:
        return value
    shown = ", ".join(repr(n) for n in names)
    ctx.error(node, path, f"join must be {shown} or a number, got {value!r}")
    return None


def parallel(s: Site) -> dict[str, Any] | None:
    ctx = s.ctx
    keys = ctx.mapping(s.node, s.path, PARALLEL_KEYS, required=("branches",))
    if keys is None:
        return None
    mode: str | int = "all"
    if "join" in keys:
        mode = join_mode(ctx, keys["join"][1], join(s.path, "join"), each=True) or "all"
    inner = s.scope.in_branch()
    branches: list[dict[str, Any]] = []
    if "branches" in keys:
        bnode, bpath = keys["branches"][1], join(s.path, "branches")
        items = ctx.items(bnode, bpath)
        if isinstance(bnode, SequenceNode) and len(items) < 2:
            ctx.error(bnode, bpath, f"a parallel needs at least 2 branches, got {len(items)}")
        for i, item in enumerate(items):
            ipath = f"{bpath}[{i}]"
            if isinstance(item, SequenceNode):
                branches.append({"when": None, "actions": s.actions(item, ipath, inner)})
                continue
            branch = ctx.mapping(item, ipath, ("when", "do"), required=("do",))
            if branch is None:
                continue
            when = (
                ctx.expr(branch["when"][1], join(ipath, "when"), s.scope)
                if "when" in branch
                else None
            )
            body = s.actions(branch["do"][1], join(ipath, "do"), inner) if "do" in branch else []
            branches.append({"when": when, "actions": body})
        if isinstance(mode, int) and isinstance(bnode, SequenceNode) and mode > len(items):
            jnode = keys["join"][1]
            ctx.error(jnode, join(s.path, "join"), f"join: {mode} of only {len(items)} branches")
    args: dict[str, Any] = {"join": mode, "branches": branches}
    cancel = _cancel_rest(s, keys, mode)
    if cancel is False:
        args["cancel_rest"] = False
    if "then" in keys:
        tnode, tpath = keys["then"][1], join(s.path, "then")
        if mode != "each" and cancel is not False:
            ctx.error(
                keys["then"][0],
                s.path,
                "'then' is only used with join: each (it runs once per branch) or with "
                "cancel_rest: false (it runs once, when the join completes)",
            )
        args["then"] = s.actions(tnode, tpath, inner)
    elif mode == "each":
        ctx.error(
            keys["join"][1], join(s.path, "join"), "join: each needs 'then' (runs once per branch)"
        )
    if "interleaved" in keys:
        inode, ipath = keys["interleaved"][1], join(s.path, "interleaved")
        if ctx.flag(inode, ipath):
            if mode != "all":
                ctx.error(inode, ipath, f"interleaved branches join all of them, not {mode!r}")
            args["interleaved"] = True
    return args


def _cancel_rest(s: Site, keys: dict[str, tuple[Node, Node]], mode: str | int) -> bool | None:
    if "cancel_rest" not in keys:
        return None
    node, path = keys["cancel_rest"][1], join(s.path, "cancel_rest")
    value = s.ctx.flag(node, path)
    if mode not in ("first",) and not isinstance(mode, int):
        s.ctx.error(
            node, path, f"cancel_rest is only used with join: first or a number, not {mode!r}"
        )
        return None
    return value


def loop_options(s: Site, keys: dict[str, tuple[Node, Node]], args: dict[str, Any]) -> bool:
    """The parallel options of a loop, put in ``args``; True when it runs in parallel."""
    ctx = s.ctx
    on = (
        bool(ctx.flag(keys["parallel"][1], join(s.path, "parallel")))
        if "parallel" in keys
        else False
    )
    if not on:
        for name in LOOP_KEYS[1:]:
            if name in keys:
                ctx.error(keys[name][0], s.path, f"{name!r} is only used with 'parallel: true'")
        return False
    if "for_each" not in keys:
        ctx.error(keys["parallel"][0], s.path, "'parallel' is only used with 'for_each'")
    args.update(parallel=True, max_concurrency=None, join="all", grows=False)
    if "max_concurrency" in keys:
        node, path = keys["max_concurrency"][1], join(s.path, "max_concurrency")
        args["max_concurrency"] = ctx.integer(node, path, 1, LOOP_LIMIT)
    if "join" in keys:
        args["join"] = join_mode(ctx, keys["join"][1], join(s.path, "join"), each=False) or "all"
    if "grows" in keys:
        args["grows"] = bool(ctx.flag(keys["grows"][1], join(s.path, "grows")))
    return True

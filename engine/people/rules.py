"""Who may do what: one rule per engine operation, applied by ``@guarded`` on ``Engine``.

Every public coroutine of the engine is checked before it runs: the caller must be a
Switchyard user, then the operation's rule must pass. A refusal raises ``Refused`` (exit
code 4 in the CLI) whose message names the missing licence or right, after writing an
audit-log row. An operation without a rule here only needs a known user, and
tests/engine/people/test_rules_cover.py fails until it gets one (or is listed in
``UNCHECKED`` with the reason).

Listing instances is not a rule but a filter in the query (``PeopleApi._visible``), so
paging stays exact; masking of secured variables happens where values leave the engine
(``PeopleApi._masker``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from switchyard.engine.kernel.acting import ACTING_LOGIN
from switchyard.engine.people.guard import CURRENT
from switchyard.engine.people.identity import Identity
from switchyard.engine.people.workitem_access import on_work_item
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedules as sched_q

Rule = Callable[[Any, Identity, str, tuple[Any, ...], dict[str, Any]], Awaitable[None]]
C = TypeVar("C", bound=type)


def _arg(args: tuple[Any, ...], kw: dict[str, Any], *names: str) -> Any:
    if args:
        return args[0]
    for name in names:
        if name in kw:
            return kw[name]
    return None


async def anyone(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
    """Any Switchyard user (being one was checked before the rule)."""


def admin(what: str) -> Rule:
    async def rule(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
        if not me.admin:
            await engine._refuse(
                "admin", f"{me.login} needs the admin right to {what}", operation=op
            )

    return rule


def licence(needed: str, what: str) -> Rule:
    async def rule(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
        if not me.has_licence(needed):
            await engine._refuse(
                needed, f"{me.login} needs the {needed} licence to {what}", operation=op
            )

    return rule


def licence_or_admin(needed: str, what: str) -> Rule:
    async def rule(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
        if not (me.admin or me.has_licence(needed)):
            await engine._refuse(
                needed,
                f"{me.login} needs the {needed} licence or the admin right to {what}",
                operation=op,
            )

    return rule


async def launch(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
    """Start a process (or run a command schedule now): the launch right on it, or on "*".
    Designers may start any process (they test what they design); admins hold every right."""
    name = str(_arg(args, kw, "name", "schedule"))
    if me.admin or me.has_licence("designer"):
        return
    if (await engine._access(me, name)).launch:
        return
    await engine._refuse(
        "launch",
        f"{me.login} may not start {name}: needs the launch right on it",
        operation=op,
        target=name,
    )


async def launch_schedule(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
    """Run a schedule now: the launch right on the schedule's name, or on the process it
    starts (a process schedule), or on "*"; designers and admins may run any."""
    name = str(_arg(args, kw, "schedule", "name"))
    if me.admin or me.has_licence("designer"):
        return
    async with engine.store.read() as conn:
        row = await sched_q.get_by_name(conn, name)
    process = (row or {}).get("process")
    if (await engine._access(me, name)).launch:
        return
    if process and (await engine._access(me, process)).launch:
        return
    await engine._refuse(
        "launch",
        f"{me.login} may not start {name}: needs the launch right on "
        + (f"it or on {process}" if process and process != name else "it"),
        operation=op,
        target=name,
    )


def on_instance(right: str, verb: str) -> Rule:
    """view: the view (or manage) right on the instance's process, or being its originator;
    a command-schedule run needs the monitor licence (or a right on its schedule).
    manage: the manage right on its process; a command run also for designers."""

    async def rule(engine: Any, me: Identity, op: str, args: Any, kw: Any) -> None:
        instance_id = _arg(args, kw, "instance_id")
        async with engine.store.read() as conn:
            row = await inst_q.get(conn, int(instance_id)) if instance_id is not None else None
        if row is None or me.admin:
            return  # an unknown id is the operation's own NotFound
        process, schedule = row.get("process"), row.get("schedule_name")
        name = process or schedule
        if right == "view" and row.get("originator") == me.login:
            return
        if process is None and me.has_licence("monitor" if right == "view" else "designer"):
            return
        if name and (await engine._access(me, name)).has(right):
            return
        what = f"instance {instance_id}" + (f" of {name}" if name else "")
        needs = f"the {right} right on {name}" if name else f"the {right} right"
        if process is None:
            lic = "monitor" if right == "view" else "designer"
            needs = f"the {lic} licence or {needs}"
        await engine._refuse(
            right, f"{me.login} may not {verb} {what}: needs {needs}", operation=op, target=name
        )

    return rule


RULES: dict[str, Rule] = {
    # lanes (engine/api.py)
    "add_lane": admin("add lanes"),
    "set_lane_concurrency": admin("change lanes"),
    "lanes": anyone,
    # schedules
    "add_schedule": licence("designer", "add schedules"),
    "update_schedule": licence("designer", "edit schedules"),
    "set_paused": licence("designer", "pause or resume schedules"),
    "remove_schedule": licence("designer", "remove schedules"),
    "schedules": anyone,
    "schedule": anyone,
    "schedule_spec": anyone,
    "next_fires": anyone,
    # instances
    "start": launch_schedule,
    "instances": anyone,  # filtered in the query: only what the caller may view
    "queue": anyone,  # likewise
    "instance": on_instance("view", "view"),
    "log": on_instance("view", "read the log of"),
    "follow_log": on_instance("view", "read the log of"),
    "cancel": on_instance("manage", "cancel"),
    # secrets
    "set_secret": admin("set secrets"),
    "secrets": admin("list secrets"),
    # nodes
    "nodes": anyone,
    "live_serve_node": anyone,
    # server parameters and the event log (engine/ops/api.py)
    "params": anyone,
    "set_param": admin("change server parameters"),
    "event_log": licence_or_admin("monitor", "read the event log"),
    # processes (engine/process/api.py)
    "known_names": anyone,
    "validate_files": licence("designer", "validate processes"),
    "publish": licence("designer", "publish processes"),
    "processes": anyone,
    "process": anyone,
    "start_process": launch,
    "instance_detail": on_instance("view", "view"),
    "retry": on_instance("manage", "retry"),
    "skip": on_instance("manage", "skip"),
    # people (engine/people/api.py)
    "identity": anyone,
    "users": anyone,
    "groups": anyone,
    "secspecs": anyone,
    "add_user": admin("add users"),
    "set_user": admin("change users"),
    "remove_user": admin("remove users"),
    "add_group": admin("add groups"),
    "remove_group": admin("remove groups"),
    "add_member": admin("change group members"),
    "remove_member": admin("change group members"),
    "grant": admin("grant rights"),
    "revoke": admin("revoke rights"),
    "rights": admin("list rights"),
    "add_secspec": admin("add security specs"),
    "set_secspec": admin("change security specs"),
    "remove_secspec": admin("remove security specs"),
    "audit": admin("read the audit log"),
    # the monitor (engine/monitor/api.py): filtered in the query to what the caller may view
    "monitor": licence("monitor", "use the monitor"),
    "monitor_ids": licence("monitor", "use the monitor"),
    "save_filter": licence("monitor", "save monitor filters"),
    "saved_filters": anyone,
    "delete_filter": anyone,
    # work items (engine/workitems/api.py): lists are filtered in the query
    "work_items": anyone,
    "work_item": on_work_item("view"),
    "claim_work_item": on_work_item("claim"),
    "release_work_item": on_work_item("release"),
    "delegate_work_item": on_work_item("delegate"),
    "forward_work_item": on_work_item("forward"),
    "hold_work_item": on_work_item("hold"),
    "save_work_item_draft": on_work_item("work"),
    "complete_work_item": on_work_item("work"),
    # timers (engine/node/timers.py): the list is filtered to what the caller may view;
    # forcing checks the manage right (designer licence for schedules) per selection
    "timers": anyone,
    "run_timers": anyone,
}

#: Public coroutines deliberately left unchecked, and why.
UNCHECKED: dict[str, str] = {
    "open": "makes the engine; checks the identity itself (first start, unknown login, --as)",
    "close": "closes this engine's own connections",
    "start_feed": "this engine's own change feed",
    "secret_values": "internal: the runner's environments and log masking, never shown",
}


def _guard(name: str, fn: Callable[..., Any], rule: Rule) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(self: Any, *args: Any, **kw: Any) -> AsyncIterator[Any]:
            me = await self._me()
            await rule(self, me, name, args, kw)
            inner = fn(self, *args, **kw)
            try:
                while True:
                    token = CURRENT.set((id(self), me))
                    acting = ACTING_LOGIN.set(me.login)
                    try:
                        item = await inner.__anext__()
                    except StopAsyncIteration:
                        return
                    finally:
                        ACTING_LOGIN.reset(acting)
                        CURRENT.reset(token)
                    yield item
            finally:
                await inner.aclose()

        return stream

    @functools.wraps(fn)
    async def call(self: Any, *args: Any, **kw: Any) -> Any:
        current = CURRENT.get()
        if current is not None and current[0] == id(self):
            return await fn(self, *args, **kw)  # inside a checked operation of this engine
        me = await self._load_identity()
        await rule(self, me, name, args, kw)
        token = CURRENT.set((id(self), me))
        acting = ACTING_LOGIN.set(me.login)
        try:
            return await fn(self, *args, **kw)
        finally:
            ACTING_LOGIN.reset(acting)
            CURRENT.reset(token)

    return call


def public_operations(cls: type) -> list[str]:
    """The public coroutines (and async generators) of an engine class."""
    out = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        fn = inspect.getattr_static(cls, name)
        if isinstance(fn, classmethod | staticmethod):
            continue
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            out.append(name)
    return out


def guarded(cls: C) -> C:
    """Wrap every public coroutine of ``cls`` with its rule (``anyone`` when it has none)."""
    for name in public_operations(cls):
        if name in UNCHECKED:
            continue
        fn = getattr(cls, name)
        setattr(cls, name, _guard(name, fn, RULES.get(name, anyone)))
    return cls

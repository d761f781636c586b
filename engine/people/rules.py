"""Who may do what: every operation of the engine names its rule where it is defined.

    @rule(admin("change users"))                      # no argument needed
    async def set_user(self, login: str, ...) -> UserView: ...

    @rule(launch, arg="name")                         # the rule reads ``name``
    async def start_process(self, name: str, ...) -> InstanceView: ...

    @unchecked("closes this engine's own connections")
    async def close(self) -> None: ...

``@rule`` stores the rule on the function; ``@guarded`` (on ``Engine``, engine/api.py) reads
it from each public coroutine (walking the MRO: an override without its own ``@rule``
keeps its base's) and wraps the operation: the caller must be a Switchyard user, then the
rule must pass. A refusal raises ``Refused`` (exit code 4 in the CLI) whose message names
the missing licence or right, after writing an audit-log row and an event-log entry.

A rule that looks at a value (the process to launch, the instance, the work item) gets the
argument named by ``arg``, bound by name through the method's signature (defaults
applied), never by position: reordering parameters cannot make it check another value.
Naming a parameter the method does not have, giving ``arg`` to a rule that reads none or
leaving it out for one that needs it, fails when the module is imported. A public
coroutine of ``Engine`` with neither ``@rule`` nor ``@unchecked("why")`` fails
``@guarded`` when engine/api.py is imported (and tests/engine/people/test_rules_cover.py).

Here are the generic rules; the work-item rule is ``on_work_item`` in workitem_access.py,
beside the "may" flags a screen shows, so the two never disagree. Listing instances is not
a rule but a filter in the query (``Guard._visible``), so paging stays exact; masking of
secured variables happens where values leave the engine (``Guard._masker``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeVar, runtime_checkable

from switchyard.engine.kernel.acting import ACTING_LOGIN
from switchyard.engine.kernel.ports import HasStore
from switchyard.engine.people.identity import Access, Identity
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedules as sched_q

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

#: The identity of the guarded operation under way, per engine (see ``guarded``): nested
#: engine calls (cancel reading its result back) do not check twice.
CURRENT: ContextVar[tuple[int, Identity] | None] = ContextVar("switchyard_identity", default=None)

#: True while an operation runs on the cached identity (``rule(..., revalidates=True)``):
#: it must raise ``StaleIdentity`` if its statement finds the change token moved.
ON_CACHED_IDENTITY: ContextVar[bool] = ContextVar("switchyard_cached_identity", default=False)

#: The change token the cached identity was read with, while ``ON_CACHED_IDENTITY`` is
#: True: what the operation's own statement compares the store's token to.
CACHED_TOKEN: ContextVar[object] = ContextVar("switchyard_cached_token", default=None)

#: Where ``@rule`` and ``@unchecked`` leave their declaration on the function.
ATTR = "__switchyard_rule__"
_WRAPPED = "__switchyard_guarded__"  # set on the wrappers: never wrapped twice


@runtime_checkable
class Checked(HasStore, Protocol):
    """What a rule (and a work-item check) uses of the engine: the store, a person's
    rights on a process, and the refusal (audit-logged) it raises (people/guard.py's
    ``Guard`` provides it)."""

    async def _refuse(
        self, needs: str, message: str, *, operation: str, target: str | None = None
    ) -> NoReturn: ...

    async def _access(self, me: Identity, name: str) -> Access: ...

    def _held_access(self, me: Identity, name: str) -> Access | None: ...


#: A rule's check: (engine, caller, operation name, the named argument's value or None).
Check = Callable[[Any, Identity, str, Any], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    """A check run before an operation; ``reads`` tells whether it needs ``arg=``."""

    check: Check
    reads: bool
    name: str  # for messages and the coverage test: "admin", "launch", "on_instance" ...
    #: The same check as a pure test of the identity, when it reads nothing else: lets an
    #: operation that revalidates (``rule(..., revalidates=True)``) start on a cached one.
    allows: Callable[[Identity], bool] | None = None
    #: The same check from what the engine holds in memory (no query): (engine, caller,
    #: the argument's value). For a rule whose pure test is not enough (rights).
    allows_held: Callable[[Any, Identity, Any], bool] | None = None


class StaleIdentity(Exception):
    """Raised by an operation started on a cached identity (``revalidates=True``) when its
    own statement finds the store's change token moved: the guard runs it again with the
    identity read afresh (and the rule checked on it). Never leaves the guard."""


@dataclass(frozen=True)
class Declared:
    """What an operation declared: its rule and the argument it reads, or why it has none."""

    rule: Rule | None
    arg: str | None = None
    unchecked: str | None = None  # the reason, when deliberately left unchecked
    revalidates: bool = False  # may start on the cached identity (see StaleIdentity)


def _where(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _check_async(fn: Callable[..., Any], decorator: str) -> None:
    if isinstance(fn, classmethod | staticmethod):
        fn = fn.__func__
    if not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
        raise TypeError(f"{decorator} on {_where(fn)}: only an async operation can carry a rule")


def check_arg(fn: Callable[..., Any], declared: Declared) -> None:
    """``declared`` fits ``fn``: ``arg`` is one of its parameters (not ``self``), given
    exactly when the rule reads one. Raises TypeError naming the method and the argument."""
    if declared.rule is None:
        return
    where, arg = _where(fn), declared.arg
    if declared.rule.reads and arg is None:
        raise TypeError(
            f"@rule({declared.rule.name}) on {where}: name the argument it checks (arg=)"
        )
    if not declared.rule.reads and arg is not None:
        raise TypeError(
            f"@rule({declared.rule.name}, arg={arg!r}) on {where}: this rule reads no argument"
        )
    if arg is None:
        return
    params = list(inspect.signature(fn).parameters)[1:]  # without self
    if arg not in params:
        raise TypeError(
            f"@rule({declared.rule.name}, arg={arg!r}) on {where}: it has no parameter "
            f"{arg!r} (its parameters: {', '.join(params) or 'none'})"
        )


def rule(check: Rule, arg: str | None = None, *, revalidates: bool = False) -> Callable[[F], F]:
    """Attach ``check`` to the operation being defined; ``arg`` names the parameter whose
    value the rule checks (a rule that reads one requires it).

    ``revalidates``: the operation reads the store's change token in its own statement and
    raises ``StaleIdentity`` if it is not the one the cached identity was read with; it
    may then start on that cached identity (no identity query) when the rule's pure test
    (``Rule.allows``) passes on it. Anything else (no cache, the test fails, the token
    moved) takes the ordinary path: identity read, rule checked (and a refusal recorded)."""
    if revalidates and check.allows is None:
        raise TypeError(f"@rule({check.name}, revalidates=True): the rule has no pure test")

    def attach(fn: F) -> F:
        if isinstance(fn, classmethod | staticmethod):  # @guarded wraps methods only
            raise TypeError(
                f"@rule on {_where(fn.__func__)}: a class or static method is no operation"
            )
        _check_async(fn, "@rule")
        declared = Declared(check, arg, revalidates=revalidates)
        check_arg(fn, declared)
        setattr(fn, ATTR, declared)
        return fn

    return attach


def unchecked(why: str) -> Callable[[F], F]:
    """Leave the operation being defined deliberately without a rule, saying why."""
    if not why.strip():
        raise TypeError("@unchecked needs the reason")

    def attach(fn: F) -> F:
        _check_async(fn, "@unchecked")
        target = fn.__func__ if isinstance(fn, classmethod | staticmethod) else fn
        setattr(target, ATTR, Declared(None, unchecked=why))
        return fn

    return attach


# ------------------------------------------------------------------ the rules
async def _anyone(engine: Checked, me: Identity, op: str, value: Any) -> None:
    """Any Switchyard user (being one was checked before the rule)."""


anyone = Rule(_anyone, reads=False, name="anyone")


def admin(what: str) -> Rule:
    async def check(engine: Checked, me: Identity, op: str, value: Any) -> None:
        if not me.admin:
            await engine._refuse(
                "admin", f"{me.login} needs the admin right to {what}", operation=op
            )

    return Rule(check, reads=False, name="admin")


def licence(needed: str, what: str) -> Rule:
    async def check(engine: Checked, me: Identity, op: str, value: Any) -> None:
        if not me.has_licence(needed):
            await engine._refuse(
                needed, f"{me.login} needs the {needed} licence to {what}", operation=op
            )

    return Rule(check, reads=False, name="licence", allows=lambda me: me.has_licence(needed))


def licence_or_admin(needed: str, what: str) -> Rule:
    async def check(engine: Checked, me: Identity, op: str, value: Any) -> None:
        if not (me.admin or me.has_licence(needed)):
            await engine._refuse(
                needed,
                f"{me.login} needs the {needed} licence or the admin right to {what}",
                operation=op,
            )

    return Rule(check, reads=False, name="licence_or_admin")


async def _launch(engine: Checked, me: Identity, op: str, value: Any) -> None:
    name = str(value)
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


#: Start a process (arg: its name): the launch right on it, or on "*". Designers may start
#: any process (they test what they design); admins hold every right. The pure test
#: (``allows``) covers admins and designers; anyone else's right on the process, once read
#: for the cached identity, is held with it (``allows_held``, ``Guard._access``).
def _launch_held(engine: Checked, me: Identity, value: Any) -> bool:
    held = engine._held_access(me, str(value))
    return held is not None and held.launch


launch = Rule(
    _launch,
    reads=True,
    name="launch",
    allows=lambda me: me.admin or me.has_licence("designer"),
    allows_held=_launch_held,
)


async def _launch_schedule(engine: Checked, me: Identity, op: str, value: Any) -> None:
    name = str(value)
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


#: Run a schedule now (arg: its name): the launch right on the schedule's name, or on the
#: process it starts (a process schedule), or on "*"; designers and admins may run any.
launch_schedule = Rule(_launch_schedule, reads=True, name="launch_schedule")


def on_instance(right: str, verb: str) -> Rule:
    """An operation on an instance (arg: its id).
    view: the view (or manage) right on the instance's process, or being its originator;
    a command-schedule run needs the monitor licence (or a right on its schedule).
    manage: the manage right on its process; a command run also for designers."""

    async def check(engine: Checked, me: Identity, op: str, instance_id: Any) -> None:
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

    return Rule(check, reads=True, name="on_instance")


# ---------------------------------------------------------- the guard machinery
def _value(sig: inspect.Signature, arg: str | None, args: Any, kw: Any) -> Any:
    """The value of parameter ``arg`` in this call, bound by name (defaults applied).
    A call that does not fit the signature raises its TypeError before any check."""
    if arg is None:
        return None
    bound = sig.bind(*args, **kw)
    bound.apply_defaults()
    return bound.arguments[arg]


def _guard(name: str, fn: Callable[..., Any], declared: Declared) -> Callable[..., Any]:
    assert declared.rule is not None
    check, arg, sig = declared.rule.check, declared.arg, inspect.signature(fn)

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(self: Any, *args: Any, **kw: Any) -> AsyncIterator[Any]:
            value = _value(sig, arg, (self, *args), kw)
            me = await self._me()
            await check(self, me, name, value)
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
                    # a stream outlives the rights it started on: each item leaves only
                    # if the rule still allows it on the identity read afresh (a right
                    # revoked, or its holder taken out of a group, ends it with the
                    # refusal), and the next one is made on that identity
                    me = await self._load_identity()
                    await check(self, me, name, value)
                    yield item
            finally:
                await inner.aclose()

        setattr(stream, _WRAPPED, True)
        return stream

    allows = declared.rule.allows if declared.revalidates else None
    allows_held = declared.rule.allows_held if declared.revalidates else None

    async def run(
        self: Any, me: Identity, args: Any, kw: Any, cached: bool, read_with: object = None
    ) -> Any:
        token = CURRENT.set((id(self), me))
        acting = ACTING_LOGIN.set(me.login)
        on_cache = ON_CACHED_IDENTITY.set(cached)
        cached_token = CACHED_TOKEN.set(read_with)
        try:
            return await fn(self, *args, **kw)
        finally:
            CACHED_TOKEN.reset(cached_token)
            ON_CACHED_IDENTITY.reset(on_cache)
            ACTING_LOGIN.reset(acting)
            CURRENT.reset(token)

    @functools.wraps(fn)
    async def call(self: Any, *args: Any, **kw: Any) -> Any:
        current = CURRENT.get()
        if current is not None and current[0] == id(self):
            return await fn(self, *args, **kw)  # inside a checked operation of this engine
        if allows is not None:
            snapshot = self._cached_identity()
            if snapshot is not None and (
                allows(snapshot[1])
                or (
                    allows_held is not None
                    and allows_held(self, snapshot[1], _value(sig, arg, (self, *args), kw))
                )
            ):
                try:
                    return await run(self, snapshot[1], args, kw, True, snapshot[0])
                except StaleIdentity:
                    pass  # changed since: read it afresh and check the rule on it, below
        me = await self._load_identity()
        await check(self, me, name, _value(sig, arg, (self, *args), kw))
        return await run(self, me, args, kw, False)

    setattr(call, _WRAPPED, True)
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


def rule_of(cls: type, name: str) -> Declared | None:
    """The rule declared for operation ``name`` of ``cls``: on its own definition, else on
    the nearest base class's definition of it (an override keeps its base's rule)."""
    for klass in cls.__mro__:
        fn = vars(klass).get(name)
        if fn is None:
            continue
        if isinstance(fn, classmethod | staticmethod):
            fn = fn.__func__
        found = getattr(fn, ATTR, None)
        if isinstance(found, Declared):
            return found
    return None


def guarded(cls: C) -> C:
    """Wrap every public coroutine of ``cls`` with its declared rule. One without a rule
    (and not ``@unchecked``) is a TypeError naming it: nothing runs unchecked by accident."""
    missing = []
    for name in public_operations(cls):
        fn = getattr(cls, name)
        if getattr(fn, _WRAPPED, False):
            continue  # a base class's operation, guarded already
        found = rule_of(cls, name)
        if found is None:
            missing.append(name)
            continue
        check_arg(fn, found)  # an override must still have the argument its rule reads
        if found.rule is not None:
            setattr(cls, name, _guard(name, fn, found))
    if missing:
        raise TypeError(
            f"{cls.__qualname__}: give these operations a @rule (engine/people/rules.py) "
            f"where they are defined, or @unchecked(why): {', '.join(sorted(missing))}"
        )
    return cls

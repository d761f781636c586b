"""Operations: server parameters (list, set) and the event log. Mixed into ``Engine``.

A parameter change is validated (engine/ops/params.py: unknown name, wrong type, below the
minimum: a SwitchyardError naming the parameter and its rule, nothing changed), stored,
announced with ``param.changed`` (running nodes re-read their parameters: no restart) and
written to the event log in the same commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import EngineParts
from switchyard.engine.ops import params as server_params
from switchyard.engine.people.rules import admin, anyone, licence_or_admin, rule
from switchyard.store.queries import eventlog as eventlog_q
from switchyard.store.queries import params as params_q

MAX_PAGE = 10_000


@dataclass(frozen=True)
class ParamView:
    name: str
    value: Any
    default: Any
    rule: str  # "integer >= 100: a monitor filter matching more is cancelled ..."
    updated_at: datetime | None  # None: never set (the default applies)


@dataclass(frozen=True)
class EventLogView:
    id: int
    at: datetime | None
    kind: str
    node_id: str | None
    login: str | None
    message: str
    detail: dict[str, Any]


def show_value(name: str, value: Any) -> str:
    """A parameter value as people type it: true, 5000, 30s."""
    if isinstance(value, bool):
        return "true" if value else "false"
    rule = server_params.RULES.get(name)
    if rule is not None and rule.kind is float:
        return f"{float(value):g}s"
    return str(value)


def _aware(at: datetime | None, field: str) -> datetime | None:
    if at is None:
        return None
    if not isinstance(at, datetime):
        raise SwitchyardError(field, f"not a time: {at!r}")
    return at if at.tzinfo is not None else at.astimezone()  # naive: local time


def _kinds(kind: str | list[str] | None) -> list[str] | None:
    asked = [kind] if isinstance(kind, str) else list(kind or [])
    names = [k.strip() for item in asked for k in item.split(",") if k.strip()]
    try:
        return eventlog.expand_kinds(names)
    except ValueError as exc:
        raise SwitchyardError(
            "kind", f"unknown event kind '{exc}' (one of {', '.join(eventlog.KINDS)})"
        ) from None


def event_view(row: dict[str, Any]) -> EventLogView:
    return EventLogView(
        id=int(row["id"]),
        at=row.get("at"),
        kind=row["kind"],
        node_id=row.get("node_id"),
        login=row.get("login"),
        message=row.get("message") or "",
        detail=dict(row.get("detail") or {}),
    )


class OperationsApi(EngineParts):  # store and tx() provided by Engine
    # ------------------------------------------------------------ parameters
    @rule(anyone)
    async def params(self) -> list[ParamView]:
        """Every server parameter: its value (stored, else the default), default and rule."""
        async with self.store.read() as conn:
            stored = await params_q.stored(conn)
        return [_param_view(name, stored.get(name)) for name in server_params.RULES]

    @rule(admin("change server parameters"))
    async def set_param(self, name: str, value: Any) -> ParamView:
        """Change a server parameter (admins). ``value`` may be text as typed ("true",
        "5000", "30s", "5m"). Running nodes take the new value without a restart."""
        typed = server_params.check(name, value)
        async with self.tx() as tx:
            stored = await params_q.stored(tx.conn)
            server_params.check_together(name, typed, await server_params.load(tx.conn))
            old = _param_view(name, stored.get(name)).value
            if name in stored and old == typed:
                return _param_view(name, stored[name])
            await params_q.put(tx.conn, name, typed, tx.now)
            tx.emit(ev.PARAM_CHANGED, name, old=old, new=typed)
            await eventlog.record(
                tx,
                eventlog.PARAM_CHANGED,
                f"parameter {name} changed: {show_value(name, old)} -> {show_value(name, typed)}",
                name=name,
                old=old,
                new=typed,
            )
            return _param_view(name, {"value": typed, "updated_at": tx.now})

    # ------------------------------------------------------------- event log
    @rule(licence_or_admin("monitor", "read the event log"))
    async def event_log(
        self,
        kind: str | list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[EventLogView]:
        """Event log entries newest first: of a kind or kinds ("node" means every node.*
        kind), at or after ``since``, before ``until``; page on with ``before_id``."""
        if limit < 1 or limit > MAX_PAGE:
            raise SwitchyardError("limit", f"must be between 1 and {MAX_PAGE}, got {limit}")
        kinds = _kinds(kind)
        start, end = _aware(since, "since"), _aware(until, "until")
        if start is not None and end is not None and end <= start:
            raise SwitchyardError("until", "must be after since")
        async with self.store.read() as conn:
            rows = await eventlog_q.page(
                conn, kinds=kinds, since=start, until=end, limit=limit, before_id=before_id
            )
        return [event_view(r) for r in rows]


def _param_view(name: str, stored: dict[str, Any] | None) -> ParamView:
    rule = server_params.RULES[name]
    value, updated_at = rule.default, None
    if stored is not None:
        try:
            value = server_params.check(name, stored["value"])
            updated_at = stored.get("updated_at")
        except SwitchyardError:  # a bad stored value is ignored, as nodes do
            pass
    text = rule.describe() + (f": {rule.meaning}" if rule.meaning else "")
    return ParamView(name, value, rule.default, text, updated_at)

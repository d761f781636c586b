"""A monitor page's rows, built straight from the driver's tuples (``mon_q.SHOWN``'s
order): the row classes, and the decoding that skips the dataclasses' ``__init__`` and
leaves a row's variables undecoded until first read (the console's table shows none)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from switchyard.engine.instances.waiting import shown_waiting
from switchyard.engine.monitor.context import MonitorCursor
from switchyard.engine.people.masking import Masker
from switchyard.engine.views import InstanceView
from switchyard.store.queries import monitor as mon_q

_T = TypeVar("_T")


def _made(cls: type[_T], fields: dict[str, Any]) -> _T:
    """A frozen dataclass without its generated ``__init__`` (one ``object.__setattr__``
    per field: most of the time a 100-row page spends in Python). Only for the monitor's
    own rows, every field given (tests/engine/monitor/test_monitor_cache.py checks the
    fields against the class, so a field added to it cannot be left unset here)."""
    made = object.__new__(cls)
    object.__setattr__(made, "__dict__", fields)
    return made


@dataclass(frozen=True)
class MonitorRow:
    instance: InstanceView
    version: int | None
    state: str | None
    waiting_on: str | None
    originator: str | None
    updated_at: datetime | None
    variables: dict[str, Any]  # masked for the caller

    @property
    def cursor(self) -> MonitorCursor | None:
        """This row's place in the order, for ``monitor(after=...)`` / ``before=``."""
        if self.updated_at is None:
            return None
        return MonitorCursor(self.updated_at, self.instance.id)

    def to_json(self) -> dict[str, Any]:
        from switchyard.engine.views import to_json

        return {
            **to_json(self.instance),
            "version": self.version,
            "state": self.state,
            "waiting_on": self.waiting_on,
            "originator": self.originator,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "variables": self.variables,
        }


class _Variables:
    """``MonitorRow.variables`` of a page's row, decoded from the stored JSON when first
    read (the console's table shows no variable: most rows are never decoded). Only for
    rows that mask nothing: a row with hidden variables gets them masked at once."""

    def __get__(self, row: MonitorRow | None, owner: type[MonitorRow]) -> dict[str, Any]:
        if row is None:
            raise AttributeError("variables")
        fields = row.__dict__
        if "variables" not in fields:  # (a copy of a decoded row has them already)
            fields["variables"] = _shown(fields.pop(_STORED))
        shown: dict[str, Any] = fields["variables"]
        return shown


class _PageRow(MonitorRow):
    """A monitor page's row: a MonitorRow whose variables are decoded when first read.
    Its ``__dict__`` holds ``_stored`` (the driver's JSON) until then; reading
    ``variables`` (or comparing, ``repr``, ``to_json``) decodes and drops it."""

    variables = _Variables()


_STORED = "_stored"


def _shown(variables: Any) -> dict[str, Any]:
    """Stored variables as shown: decoded, without the internal ``__`` keys."""
    stored = mon_q.json_of(variables) or {}
    if isinstance(variables, str) and '"__' not in variables:
        return stored  # no internal key (the common case)
    return {k: v for k, v in stored.items() if not k.startswith("__")}


def page_rows(
    keys: list[str], raw: list[Sequence[Any]], hidden: dict[int, frozenset[str]]
) -> list[MonitorRow]:
    """``raw`` (a page's rows as the driver gave them, ``keys`` their columns) as the
    caller may see them: ``hidden`` names the variables each definition hides from them."""
    if tuple(keys[: len(mon_q.SHOWN_NAMES)]) != mon_q.SHOWN_NAMES:
        raise AssertionError(f"monitor page columns out of order: {keys}")
    out: list[MonitorRow] = []
    nothing: frozenset[str] = frozenset()
    time_of, json_of = mon_q.time_of, mon_q.json_of
    for row in raw:
        (
            iid, schedule, process, lane, status, reason, origin, fire_at, queued_at,
            started_at, ended_at, exit_code, node_id, command, current_state,
            current_action, definition_id, version, waiting_on, originator, updated_at,
            variables,
        ) = row[:22]  # fmt: skip
        view: InstanceView = _made(
            InstanceView,
            {
                "id": int(iid),
                "schedule": schedule,
                "process": process,
                "lane": lane,
                "status": status,
                "reason": reason,
                "origin": origin or "schedule",
                "fire_at": None if fire_at is None else time_of(fire_at),
                "queued_at": None if queued_at is None else time_of(queued_at),
                "started_at": time_of(started_at),
                "ended_at": None if ended_at is None else time_of(ended_at),
                "exit_code": exit_code,
                "node_id": node_id,
                "command": list(json_of(command) or ()),
                "current_state": current_state,
                "current_action": current_action,
            },
        )
        fields = {
            "instance": view,
            "version": version,
            "state": current_state,
            "waiting_on": shown_waiting(status, waiting_on),
            "originator": originator,
            "updated_at": time_of(updated_at),
        }
        concealed = hidden.get(definition_id, nothing) if definition_id else nothing
        if concealed:  # masked now: the masker needs the values (out of free text)
            stored = json_of(variables) or {}
            masker = Masker.hiding(concealed, stored)
            fields["instance"] = masker.view(view)
            fields["variables"] = masker.variables(_shown(variables))
        else:
            fields[_STORED] = variables  # decoded when read (_Variables)
        out.append(_made(_PageRow, fields))
    return out

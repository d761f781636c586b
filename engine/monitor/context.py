"""What a monitor page needs besides the rows, cached per engine under the store's change
token: the caller's identity, the WHERE clause of what they may view (their rights), the
``max_monitored_flows`` cap, the security specs, the secured variables of each process,
and which variables each definition hides from the caller.

Every change of users, groups, rights, specs, parameters or definitions replaces the token
in its own commit (engine/kernel/tx.py; store/queries/params.py), in this process or any
other on the same store. A page reads the token in the same statement as its rows, so a
page is only ever filtered and masked by what was current when its rows were read: a
change applies at once, across processes, without waiting for the events feed. Keyset
cursors (``MonitorCursor``) are here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from switchyard.engine.people.identity import Identity


@dataclass(frozen=True)
class MonitorCursor:
    """Where a page ends (or starts): a row's (updated_at, id), the monitor's order key.
    ``Engine.monitor(flt, after=page.rows[-1].cursor)`` is the next page,
    ``before=page.rows[0].cursor`` the previous one; either seeks the index to the
    cursor, so page 500 costs what page 1 does (an offset steps over every row before)."""

    updated_at: datetime
    id: int

    def key(self) -> tuple[datetime, int]:
        return (self.updated_at, self.id)


@dataclass
class MonitorContext:
    """Read under ``token`` for ``me`` (see the module's docstring)."""

    token: object
    me: Identity
    visible: ColumnElement[bool] | None  # None: every instance (an admin)
    seen: frozenset[str] | None  # processes seen whole (every instance); None: every one
    cap: int
    specs: dict[str, dict[str, Any]]  # every security spec by name
    secured: dict[str, dict[str, set[str]]] | None = None  # process -> variable -> specs
    hidden: dict[int, frozenset[str]] = field(default_factory=dict)  # definition id -> hidden
    statements: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # built page statements

    def fits(self, token: object, me: Identity) -> bool:
        return self.token == token and self.me == me

    def visible_for(self, processes: list[str]) -> ColumnElement[bool] | None:
        """The rights clause a filter on ``processes`` needs: none when the caller sees
        every instance of each of them (the filter already says ``process IN (...)``), so
        the cap count reads the index alone."""
        if self.visible is None or (
            processes and (self.seen is None or self.seen.issuperset(processes))
        ):
            return None
        return self.visible

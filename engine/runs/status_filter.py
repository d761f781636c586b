"""The ``--status`` filter of an instance listing: ``queued,running`` -> the statuses, each
one checked (exit 2 naming the known ones). Shared by ``Engine.instances`` and the CLI's
light read path (engine/reads.py), so both accept and refuse the same text."""

from __future__ import annotations

from switchyard.engine.errors import SwitchyardError
from switchyard.store.core import ACTIVE_STATUSES, TERMINAL_STATUSES


def parse_statuses(status: str | None) -> list[str] | None:
    """The statuses named in ``status`` (comma-separated), or None for all."""
    statuses = [s.strip() for s in status.split(",")] if status else None
    for s in statuses or []:
        if s not in (*ACTIVE_STATUSES, *TERMINAL_STATUSES):
            known = ", ".join((*ACTIVE_STATUSES, *TERMINAL_STATUSES))
            raise SwitchyardError("status", f"unknown status '{s}' (one of {known})")
    return statuses

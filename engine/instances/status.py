"""An instance's status. The stored values are the strings of ``store.models``; a member
compares equal to its string, so rows read from the store need no conversion."""

from __future__ import annotations

from enum import StrEnum

from switchyard.store import models


class Status(StrEnum):
    QUEUED = models.QUEUED
    RUNNING = models.RUNNING  # set only by the claim (store/queries/claims.py)
    WAITING = models.WAITING
    COMPLETED = models.COMPLETED
    FAILED = models.FAILED
    CANCELLED = models.CANCELLED
    ERROR = models.ERROR
    MISSED = models.MISSED
    SKIPPED = models.SKIPPED

    @property
    def active(self) -> bool:
        """Not ended yet: queued, running or waiting."""
        return self in ACTIVE

    @property
    def ended(self) -> bool:
        return self not in ACTIVE


ACTIVE = frozenset({Status.QUEUED, Status.RUNNING, Status.WAITING})
ENDED = frozenset(set(Status) - ACTIVE)

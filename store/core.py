"""What the store's tables share with readers that do not build them (the command line's
read path, store/queries/reads.py): the stored words (instance statuses, licences, who a
right is given to) and the UTC timestamp column type. SQLAlchemy Core only: importing this
builds no SQLModel class (store/models.py, ~0.2 s, imports it from here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and returned as aware UTC on every backend."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# Instance statuses. `missed` and `skipped` are terminal records of fires that did not run.
QUEUED = "queued"
RUNNING = "running"
WAITING = "waiting"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
ERROR = "error"
MISSED = "missed"
SKIPPED = "skipped"
ACTIVE_STATUSES = (QUEUED, RUNNING, WAITING)
TERMINAL_STATUSES = (COMPLETED, FAILED, CANCELLED, ERROR, MISSED, SKIPPED)

# People. Licences are cumulative, in this order; ``admin`` is a separate flag.
LICENCES = ("direct", "group", "monitor", "designer")
SUBJECT_USER = "user"
SUBJECT_GROUP = "group"
ALL_PROCESSES = "*"  # a right on "*" applies to every process

"""Whom the engine operation under way acts for, as a login: set by the access guard
(engine/people/rules.py) around every checked operation, read by the event log so an
entry names who caused it. The kernel keeps only the login, not the identity, so it
needs nothing from the people package."""

from __future__ import annotations

from contextvars import ContextVar

ACTING_LOGIN: ContextVar[str | None] = ContextVar("switchyard_acting_login", default=None)

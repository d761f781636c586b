"""Errors the engine raises at its door. The CLI turns them into one line and an exit code."""

from __future__ import annotations


class SwitchyardError(Exception):
    """A refused operation: ``field`` names what was wrong, ``message`` says what."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(SwitchyardError):
    exit_code = 3


class Conflict(SwitchyardError):
    exit_code = 2


class Refused(SwitchyardError):
    """Not allowed for this user. ``field`` is what is missing (a licence, ``admin``, or a
    right such as ``launch``); the message says who may not do what and names it, e.g.
    "dave may not start expense-approval: needs the launch right on it"."""

    exit_code = 4

    def __str__(self) -> str:
        return self.message

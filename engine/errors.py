"""Errors the engine raises at its door. The CLI turns them into one line and an exit code."""

from __future__ import annotations


class SwitchyardError(Exception):
    """A refused operation: ``field`` names what was wrong, ``message`` says what."""

    exit_code = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_page(limit: int, offset: int = 0, most: int = 100_000) -> None:
    """A listing's ``limit`` and ``offset``: refused (exit 2) outside what a page can be."""
    if not 1 <= limit <= most:
        raise SwitchyardError("limit", f"must be between 1 and {most}, got {limit}")
    if not 0 <= offset <= 2**31:
        raise SwitchyardError("offset", f"must be between 0 and {2**31}, got {offset}")


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

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


class Withdrawn(Conflict):
    """The thing asked for is over and will not come back: a work item withdrawn because
    its branch lost or its instance ended. The message says why."""

    exit_code = 4


class Refused(SwitchyardError):
    """Not allowed for this user. ``field`` is what is missing (a licence, ``admin``, or a
    right such as ``launch``); the message says who may not do what and names it, e.g.
    "dave may not start expense-approval: needs the launch right on it"."""

    exit_code = 4

    def __str__(self) -> str:
        return self.message


EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NO_STORE = 3
EXIT_UNREACHABLE = 5


class StoreUnavailable(Exception):
    """The store cannot be opened or used: every store-layer, driver and OS error of the
    store leaves the engine as this (engine/kernel/boundary.py translates them). The message says
    why and what to do; ``exit_code`` keeps the command line's meaning: 2 a ``--db`` that
    is not a store, 3 no store, 5 out of reach, 1 a driver error that is a bug."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NotAStore(StoreUnavailable):
    """``--db`` names something that is not a Switchyard store, or is malformed (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class NoStore(StoreUnavailable):
    """There is no store at the URL and the command may not create one (exit 3)."""

    exit_code = EXIT_NO_STORE


class SharedModeRefused(StoreUnavailable):
    """A store, data dir, key or env file that group or others may read or write (exit 2)."""

    exit_code = EXIT_BAD_INPUT

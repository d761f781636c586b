"""Background tasks whose failure is never lost: ``spawn`` logs an exception the task ends
with and hands it to ``on_error`` (e.g. end the instance it was running in ``error``), so
no instance stays ``running`` behind a "Task exception was never retrieved"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
OnError = Callable[[BaseException], Awaitable[None]]

_followers: set[asyncio.Task[Any]] = set()  # on_error handlers under way (strong refs)


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (the first line of the message, at most 300 chars)."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    return f"{type(exc).__name__}: {message}"[:300] if message else type(exc).__name__


def spawn(
    coro: Coroutine[Any, Any, T], *, name: str, on_error: OnError | None = None
) -> asyncio.Task[T]:
    """``asyncio.create_task`` whose exception is always retrieved: logged, then passed to
    ``on_error`` (itself guarded: its own failure is logged). Cancellation is not an error."""
    task = asyncio.create_task(coro, name=name)

    def done(finished: asyncio.Task[T]) -> None:
        if finished.cancelled():
            return
        exc = finished.exception()
        if exc is None:
            return
        log.error("task %s failed: %s", name, one_line(exc), exc_info=exc)
        if on_error is not None:
            follower = asyncio.ensure_future(on_error(exc))
            _followers.add(follower)
            follower.add_done_callback(_follower_done)

    task.add_done_callback(done)
    return task


def _follower_done(follower: asyncio.Task[Any]) -> None:
    _followers.discard(follower)
    if not follower.cancelled() and follower.exception() is not None:
        log.error("error handler failed: %s", one_line(follower.exception()))  # type: ignore[arg-type]

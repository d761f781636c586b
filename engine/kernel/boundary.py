"""The engine's door for store failures: what the store layer raises (its StoreError
family, SharedModeError, SQLAlchemy and OS errors) leaves the engine as one of the
engine's own errors (engine/errors.py ``StoreUnavailable`` and its kinds), with the same
exit code. The console and the command line never see a store or driver exception."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from switchyard.engine.errors import (
    EXIT_INTERNAL,
    NoStore,
    NotAStore,
    SharedModeRefused,
    StoreUnavailable,
)
from switchyard.store import db
from switchyard.store.filemodes import SharedModeError

C = TypeVar("C", bound=type)
WHERE = "the store"


def store_failure(exc: BaseException) -> StoreUnavailable | None:
    """``exc`` as the engine error it means, or None when it is not a store failure.

    A driver error the store cannot name (not a lost connection, not a foreign file) is
    kept as ``StoreUnavailable`` with exit code 1: a bug, whose cause is ``__cause__``."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, SharedModeError):
        return SharedModeRefused(str(exc))
    known = db.classify(exc, WHERE)
    if isinstance(known, db.NoStore):
        return NoStore(str(known))
    if isinstance(known, db.StoreUnreachable):
        return StoreUnavailable(str(known))
    if isinstance(known, db.NotAStore):
        return NotAStore(str(known))
    if known is not None:  # a --db that cannot name a store, a schema too new (exit 2)
        return StoreUnavailable(str(known), known.exit_code)
    if isinstance(exc, SQLAlchemyError):
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        detail = f"{type(cause).__name__}: {lines[0] if lines else ''}"
        return StoreUnavailable(f"db: {detail}", EXIT_INTERNAL)
    return None


@contextmanager
def store_errors() -> Iterator[None]:
    """Store failures raised in the block leave it as engine errors (``from`` the cause)."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        translated = store_failure(exc)
        if translated is None:
            raise
        raise translated from exc


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream(*args: Any, **kw: Any) -> AsyncIterator[Any]:
            inner = fn(*args, **kw)
            try:
                with store_errors():
                    async for item in inner:
                        yield item
            finally:
                await inner.aclose()

        return stream

    @functools.wraps(fn)
    async def call(*args: Any, **kw: Any) -> Any:
        with store_errors():
            return await fn(*args, **kw)

    return call


def store_boundary(cls: C) -> C:
    """Every public coroutine (and async generator) of ``cls``, and its ``open``
    classmethod, raise engine errors only: store failures are translated."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        fn = inspect.getattr_static(cls, name)
        if isinstance(fn, classmethod) and inspect.iscoroutinefunction(fn.__func__):
            setattr(cls, name, classmethod(_wrap(fn.__func__)))
        elif inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            setattr(cls, name, _wrap(getattr(cls, name)))
    return cls

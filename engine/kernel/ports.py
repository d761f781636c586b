"""What the parts of the engine borrow from the facade, said as small Protocols (ports).

A part (the runtime, scheduler, dispatcher, group writer, process host, recovery, ...)
takes the narrowest port that covers what it calls, never the whole ``Engine``: mypy then
checks every use, and a part cannot reach what it does not declare. ``Engine``
(engine/api.py) satisfies every port, structurally; tests/engine/test_ports.py checks that
(statically: engine/wiring.py assigns an Engine to each port, mypy checks it; and at run
time) and that no ``engine`` typed ``Any`` comes back.

The atoms are here, in the kernel, because they need only kernel and store types. A port
that needs a type of a higher package (a masker, a work-item rule) or that only one part
combines lives beside that part: a Protocol belongs to its consumer.

``EngineParts`` is the typed base of every mixin of ``Engine`` (people, processes, work
items, ...): what the facade sets in its ``__init__`` (store, clock, bus, node id, data dir)
and ``tx()``, declared once instead of ``Any`` in each mixin.

Every port is ``runtime_checkable`` so a test can check a real engine against it; such an
``isinstance`` only looks for the names, the signatures are mypy's to check.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

from switchyard.engine.kernel.clock import Clock
from switchyard.engine.kernel.events import EventBus
from switchyard.engine.kernel.tx import Tx
from switchyard.store.db import Store

# ------------------------------------------------------------------ atoms


@runtime_checkable
class HasStore(Protocol):
    """Reads (``store.read()``) and raw writes without events (``store.write()``)."""

    @property
    def store(self) -> Store: ...


@runtime_checkable
class HasClock(Protocol):
    @property
    def clock(self) -> Clock: ...


@runtime_checkable
class HasBus(Protocol):
    """The local event bus: publish (log lines, group-committed events) or subscribe."""

    @property
    def bus(self) -> EventBus: ...


@runtime_checkable
class HasNodeId(Protocol):
    """The id of this engine as a node: who owns a running instance, who wrote an event."""

    @property
    def node_id(self) -> str: ...


@runtime_checkable
class Transactions(Protocol):
    """One write transaction; events emitted on it reach the bus after the commit."""

    def tx(self) -> AbstractAsyncContextManager[Tx]: ...


@runtime_checkable
class HasLogin(Protocol):
    """The person behind the engine (named by a node's own event-log entries)."""

    @property
    def login(self) -> str: ...


@runtime_checkable
class LogFiles(Protocol):
    """Where logs live: the data dir and each instance's log file in it."""

    @property
    def data_dir(self) -> Path: ...

    def log_path(self, instance_id: int) -> Path: ...


@runtime_checkable
class SecretValues(Protocol):
    """Every secret, decrypted (for a run's environment and its log masking)."""

    async def secret_values(self) -> dict[str, str]: ...


# ------------------------------------------------------------ combinations


@runtime_checkable
class StoreAccess(HasStore, HasClock, Transactions, Protocol):
    """Read, write in a transaction, know the time: what most parts need."""


@runtime_checkable
class NodeAccess(StoreAccess, HasBus, HasNodeId, Protocol):
    """StoreAccess plus the bus and this node's id: a part that runs work on a node."""


# ------------------------------------------------------ the mixins' base


class EngineParts:
    """The typed base of every ``Engine`` mixin: what the facade provides (engine/api.py
    sets these in ``__init__`` and defines ``tx``)."""

    store: Store
    clock: Clock
    bus: EventBus
    node_id: str
    data_dir: Path

    def tx(self) -> AbstractAsyncContextManager[Tx]:  # pragma: no cover - Engine's
        raise NotImplementedError

"""A console attached to a ``switchyard serve`` node runs no work, but a person may have
work items in progress in it. It registers as a node of mode ``session`` with a
heartbeat, so that when it dies (kill -9, a dropped SSH connection) any node's recovery
brings its items back *held* at the same user with their drafts, as a clean exit does.
A console that embeds a node (``Runtime(mode="console")``) needs no session: its node
does the same."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Protocol, runtime_checkable

from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST, PID_NS, Liveness, own_start_time
from switchyard.engine.kernel.ports import HasNodeId, StoreAccess
from switchyard.engine.kernel.tasks import spawn
from switchyard.engine.ops import params as server_params
from switchyard.engine.workitems.timers import hold_sessions
from switchyard.store.queries import nodes as node_q

log = logging.getLogger(__name__)

SESSION = "session"


@runtime_checkable
class SessionPorts(StoreAccess, HasNodeId, Protocol):
    """Registers and beats as a node of its own (this engine's node id)."""


class ConsoleSession:
    def __init__(self, engine: SessionPorts) -> None:
        self.engine = engine
        self._beat: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.engine.node_id

    async def start(self) -> None:
        now = self.engine.clock.now()
        async with self.engine.tx() as tx:
            await node_q.register(
                tx.conn,
                {
                    "id": self.id,
                    "mode": SESSION,
                    "host": HOST,
                    "pid": os.getpid(),
                    "proc_start_time": own_start_time(),
                    "pid_ns": PID_NS,
                    "started_at": now,
                    "heartbeat_at": now,
                },
            )
            tx.emit(ev.NODE_CHANGED, self.id, mode=SESSION, state="started")
        self._beat = spawn(self._heartbeat(), name="switchyard-session")

    async def _heartbeat(self) -> None:
        every = Liveness().heartbeat
        while True:
            await asyncio.sleep(every)
            try:
                async with self.engine.store.write() as conn:
                    await node_q.heartbeat(conn, self.id, self.engine.clock.now())
                async with self.engine.store.read() as conn:
                    every = Liveness.of(await server_params.load(conn)).heartbeat
            except Exception as exc:
                log.warning("session heartbeat failed: %s", exc)

    async def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
        await hold_sessions(self.engine, [self.id], f"console {self.id} closed")
        async with self.engine.tx() as tx:
            await node_q.mark_stopped(tx.conn, self.id, tx.now)
            tx.emit(ev.NODE_CHANGED, self.id, mode=SESSION, state="stopped")

"""`switchyard serve`: a headless node that runs until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime


async def serve_forever(db: str | None, grace: float, **options: Any) -> None:
    """``options``: Engine.open's (create, allow_shared_mode, ...)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    engine = await Engine.open(db, **options)
    runtime = Runtime(engine, mode="serve")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    print(
        f"switchyard node {engine.node_id} serving {engine.store.display_url}",
        file=sys.stderr,
        flush=True,
    )
    try:
        # SIGTERM/SIGINT, or `switchyard node drain` (read at a heartbeat): the same stop
        signalled = asyncio.create_task(stop.wait())
        drained = asyncio.create_task(runtime.drain_requested.wait())
        await asyncio.wait({signalled, drained}, return_when=asyncio.FIRST_COMPLETED)
        for task in (signalled, drained):
            task.cancel()
        if runtime.drain_requested.is_set() and runtime.drain_grace is not None:
            grace = runtime.drain_grace
        why = "draining" if runtime.drain_requested.is_set() else "stopping"
        print(f"{why}: running commands get {grace:g}s to finish", file=sys.stderr, flush=True)
        await runtime.stop(grace)
    finally:
        await engine.close()
    print("stopped", file=sys.stderr, flush=True)

"""Nodes: who runs work on this store, and whether they are alive.

A node is alive while its heartbeat is fresh. On the same host we also check the
process itself (pid plus start time, so a reused pid does not count), which lets a
restarted node adopt a crashed node's work at once instead of after the timeout.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HEARTBEAT_INTERVAL = 5.0
DEAD_AFTER = timedelta(seconds=30)
HOST = socket.gethostname()


def new_node_id() -> str:
    return f"{HOST.split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def own_start_time() -> float | None:
    return process_start_time(os.getpid())


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if it is gone:
    a pid plus its start time names one process, even after the pid is reused."""
    import psutil  # here: a command line call that starts no node need not import it

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


@dataclass(frozen=True)
class NodeView:
    id: str
    mode: str
    host: str
    pid: int
    started_at: datetime | None
    heartbeat_at: datetime | None
    alive: bool


def is_alive(row: dict[str, Any], now: datetime) -> bool:
    if row.get("stopped_at") is not None:
        return False
    beat = row.get("heartbeat_at")
    if beat is None or now - beat > DEAD_AFTER:
        return False
    if row["host"] == HOST:
        started = process_start_time(int(row["pid"]))
        if started is None:
            return False
        recorded = row.get("proc_start_time")
        if recorded is not None and abs(started - recorded) > 0.01:
            return False
    return True


def view(row: dict[str, Any], now: datetime) -> NodeView:
    return NodeView(
        id=row["id"],
        mode=row["mode"],
        host=row["host"],
        pid=int(row["pid"]),
        started_at=row.get("started_at"),
        heartbeat_at=row.get("heartbeat_at"),
        alive=is_alive(row, now),
    )

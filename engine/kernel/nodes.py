"""Nodes: who runs work on this store, and whether they are alive.

A node is alive while its heartbeat is fresh (younger than ``node_dead_timeout``, a
server parameter). On the same host we also check the process itself (pid plus start
time, so a reused pid does not count), which lets a restarted node adopt a crashed
node's work at once instead of after the timeout.

Its state, as ``node list`` shows it: ``stopped`` (it said so, or was marked so after it
died), ``dead`` (silent past the dead timeout, or its process is gone), ``draining``
(asked to drain: it claims nothing new), ``suspect`` (it missed two heartbeats but is
not presumed dead yet) or ``live``.
"""

from __future__ import annotations

import enum
import os
import socket
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HEARTBEAT_INTERVAL = 5.0  # defaults of the server parameters node_heartbeat_interval
DEAD_AFTER = timedelta(seconds=30)  # and node_dead_timeout (engine/ops/params.py)
# The host name a node records (and compares with a row's host before it checks a pid).
# SWITCHYARD_NODE_HOST overrides it: tests run nodes that stand for other machines on
# one host this way (their pids are then never checked, only their heartbeats).
HOST = os.environ.get("SWITCHYARD_NODE_HOST") or socket.gethostname()
WORKER_MODES = ("serve", "console")  # nodes that run work (a "session" only beats)


class NodeState(enum.StrEnum):
    LIVE = "live"
    SUSPECT = "suspect"
    DEAD = "dead"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Liveness:
    """The two timings of the cluster (server parameters), as the nodes read them."""

    heartbeat: float = HEARTBEAT_INTERVAL
    dead_after: timedelta = DEAD_AFTER

    @classmethod
    def of(cls, params: dict[str, Any]) -> Liveness:
        return cls(
            heartbeat=float(params.get("node_heartbeat_interval", HEARTBEAT_INTERVAL)),
            dead_after=timedelta(
                seconds=float(params.get("node_dead_timeout", DEAD_AFTER.total_seconds()))
            ),
        )


def new_node_id() -> str:
    return f"{HOST.split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def own_start_time() -> float | None:
    return process_start_time(os.getpid())


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if it is gone:
    a pid plus its start time names one process, even after the pid is reused. A zombie
    (ended, not reaped yet) still has its start time, as psutil gives it: the leader of a
    group left behind may be one while the rest of its group runs.

    On Linux read from ``/proc`` the way psutil computes ``create_time()`` (the same
    number: a test compares them), because importing psutil costs ~10-16 ms, paid by
    every node start (bench/engine.py times from the start); elsewhere psutil."""
    return _start(pid, zombie=True)


class ProcessHidden(Exception):
    """Process ``pid`` exists but this user may not read it: another user's, behind a
    ``/proc`` mounted with ``hidepid`` (systemd's ``ProtectProc=``). Whether it is the
    process recorded is unknown; its heartbeat decides, as for a node on another host."""


def running_start_time(pid: int) -> float | None:
    """``process_start_time``, but None for a zombie too: a process that ended runs
    nothing, even while its parent has not reaped it (a node killed by ``kill -9`` under
    a parent that does not wait for it is dead, not alive until its heartbeat ages).
    Raises ``ProcessHidden`` for a process that is there but out of sight (psutil says
    "no such process" then: another user's live node looked dead, its work taken over)."""
    return _start(pid, zombie=False, hidden=True)


def _start(pid: int, *, zombie: bool, hidden: bool = False) -> float | None:
    try:
        stat = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        if _PROC:
            if hidden and _exists(pid):
                raise ProcessHidden(pid) from None
            return None  # gone
        stat = None
    except PermissionError:
        if hidden:
            raise ProcessHidden(pid) from None
        stat = None  # psutil's answer, as before (AccessDenied: None)
    if stat is not None:
        state, ticks = stat
        boot = _boot_time()
        if boot is not None:
            return None if state == b"Z" and not zombie else ticks / _CLOCK_TICKS + boot
    import psutil  # here: a command line call that starts no node need not import it

    try:
        proc = psutil.Process(pid)
        if not zombie and proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except psutil.AccessDenied as exc:
        if hidden:
            raise ProcessHidden(pid) from exc
        return None
    except psutil.Error:
        return None


def _exists(pid: int) -> bool:
    """Whether a process ``pid`` exists for this pid namespace (signal 0: EPERM is
    another user's process), when /proc has no entry for it."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except OSError:
        return False
    return True


# /proc/PID/stat as Linux writes it (Solaris has a /proc without it: psutil there)
_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# /proc/stat's btime, read once per process. psutil 7 reads it on every call: the two
# differ only after the wall clock is stepped (btime moves with it), and neither is right
# then: a start time recorded before a step never matches one computed after it.
_boot: list[float] = []


def _stat_fields(pid: int) -> tuple[bytes, int] | None:
    """The state (field 3) and start time (field 22, clock ticks after boot) of
    /proc/PID/stat, or None when unreadable for another reason than the pid being gone
    (FileNotFoundError) or out of this user's sight (PermissionError): psutil decides."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        raise
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces and ")"
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _boot_time() -> float | None:
    if not _boot:
        try:
            with open("/proc/stat", "rb") as f:
                for line in f:
                    if line.startswith(b"btime"):
                        _boot.append(float(line.split()[1]))
                        break
        except OSError:
            return None
    return _boot[0] if _boot else None


@dataclass(frozen=True)
class NodeView:
    id: str
    mode: str
    host: str
    pid: int
    started_at: datetime | None
    heartbeat_at: datetime | None
    alive: bool
    state: NodeState = NodeState.LIVE
    running: int = 0
    waiting: int = 0
    lanes: list[str] = field(default_factory=list)
    dead_in: float | None = None  # seconds until a silent node is presumed dead
    drain_grace: float | None = None
    load_balance_threshold: int | None = None
    at_threshold: bool = False  # owns that many active instances: claims nothing new
    kind: str = ""  # serve / session (an embedded console's node: console)


def _own_pid_ns() -> int | None:
    """This process's pid namespace (the inode of /proc/self/ns/pid), None where unknown."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


PID_NS = _own_pid_ns()  # recorded with every node row (nodes.pid_ns)


def pid_is_ours(row: dict[str, Any]) -> bool:
    """Whether a node row's pid names a process we can check: on this host AND in this
    pid namespace. Two containers on the host's network share its host name but not their
    pids: the other's pid means another process here (or none), and a live node would
    look dead and have its work taken over while it still runs it. A row without a
    namespace (a node of an older version) is checked as before."""
    if row["host"] != HOST:
        return False
    theirs = row.get("pid_ns")
    return theirs is None or PID_NS is None or int(theirs) == PID_NS


def is_alive(row: dict[str, Any], now: datetime, dead_after: timedelta = DEAD_AFTER) -> bool:
    if row.get("stopped_at") is not None:
        return False
    beat = row.get("heartbeat_at")
    if beat is None or now - beat > dead_after:
        return False
    if pid_is_ours(row):
        try:
            started = running_start_time(int(row["pid"]))
        except ProcessHidden:
            return True  # another user's, out of sight (hidepid): its heartbeat decides
        if started is None:
            return False
        recorded = row.get("proc_start_time")
        if recorded is not None and abs(started - recorded) > 0.01:
            return False
    return True


def state_of(row: dict[str, Any], now: datetime, timing: Liveness = Liveness()) -> NodeState:
    if row.get("stopped_at") is not None:
        return NodeState.STOPPED
    if not is_alive(row, now, timing.dead_after):
        return NodeState.DEAD
    if row.get("draining_at") is not None:
        return NodeState.DRAINING
    beat = row.get("heartbeat_at")
    if beat is not None and (now - beat).total_seconds() > 2 * timing.heartbeat:
        return NodeState.SUSPECT
    return NodeState.LIVE


def view(
    row: dict[str, Any],
    now: datetime,
    timing: Liveness = Liveness(),
    *,
    running: int = 0,
    waiting: int = 0,
    lanes: list[str] | None = None,
    threshold: int | None = None,
) -> NodeView:
    state = state_of(row, now, timing)
    beat = row.get("heartbeat_at")
    dead_in = None
    if state in (NodeState.LIVE, NodeState.SUSPECT, NodeState.DRAINING) and beat is not None:
        dead_in = max(0.0, (timing.dead_after - (now - beat)).total_seconds())
    return NodeView(
        id=row["id"],
        mode=row["mode"],
        host=row["host"],
        pid=int(row["pid"]),
        started_at=row.get("started_at"),
        heartbeat_at=beat,
        alive=state not in (NodeState.DEAD, NodeState.STOPPED),
        state=state,
        running=running,
        waiting=waiting,
        lanes=sorted(lanes or []),
        dead_in=dead_in,
        drain_grace=row.get("drain_grace"),
        load_balance_threshold=threshold,
        at_threshold=threshold is not None and running + waiting >= threshold,
        kind=row["mode"],
    )

"""Process groups a command run leaves behind when its node dies: found and killed by a
later node (recovery, a cancel of a dead node's instance). A group is killed only when it
is provably one this engine started: its leader's start time matches the store's record,
or one of its members carries the mark the engine sets on every command it starts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket

from switchyard.engine.kernel.nodes import process_start_time

#: set on every command the engine starts (its value: ``group_mark``), never taken from a
#: definition: how a recovery finds the commands of a dead node's instance on this host
#: that the store does not know (a process instance records one command's group, and
#: parallel branches run several)
GROUP_MARK = "SWITCHYARD_GROUP_OF"


def group_mark(instance_id: int, node_id: str) -> str:
    """The mark of the commands node ``node_id`` starts for ``instance_id``. The node's id
    is unique to one node process (host, pid, random), so the same instance id of another
    store on this host (a test store beside production) is never taken for it."""
    return f"{instance_id}@{node_id}"


def marked_groups(marks: set[str]) -> dict[str, set[int]]:
    """The process groups on this host with a member carrying one of ``marks``, per mark
    (blocking: one scan of /proc). Only a process of this user (real uid) counts: the
    engine's commands run as its user, and a root engine reads every user's environment,
    where another user may have set a mark (in a group of root's that it joined)."""
    needles = {f"{GROUP_MARK}={mark}".encode(): mark for mark in marks}
    found: dict[str, set[int]] = {}
    if not needles:
        return found
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    own, uid = os.getpgrp(), os.getuid()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            hits = [needles[item] for item in env if item in needles]
            pgid = os.getpgid(pid) if hits and _owner(pid) == uid else 0
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if pgid > 1 and pgid != own:
            for mark in hits:
                found.setdefault(mark, set()).add(pgid)
    return found


def _owner(pid: int) -> int | None:
    """The real uid of process ``pid`` (its status file's ``Uid:`` line), None if unread."""
    with open(f"/proc/{pid}/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"Uid:"):
                return int(line.split()[1])
    return None


def kill_marked_groups(marks: set[str]) -> set[str]:
    """SIGKILL every group ``marked_groups`` finds (blocking): the marks one was killed for."""
    killed: set[str] = set()
    for mark, groups in marked_groups(marks).items():
        for pgid in groups:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
                killed.add(mark)
    return killed


def kill_stale_group(pgid: int, start_time: float | None, host: str) -> bool:
    """SIGKILL a group left behind by a crashed node, only if its leader is provably ours."""
    if host != socket.gethostname() or start_time is None or pgid <= 1:
        return False
    actual = process_start_time(pgid)
    if actual is None or abs(actual - start_time) > 0.01:
        return False
    try:
        if os.getpgid(pgid) != pgid or pgid == os.getpgrp():
            return False
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        return False
    return True

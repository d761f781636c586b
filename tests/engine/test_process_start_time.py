"""A process's start time (pid + start time name one process, even after pid reuse) is
read from /proc the way psutil computes it, without importing psutil (10-16 ms that
every node start paid: bench/README.md engine round 7). Stored start times are compared
with it across versions and nodes, so it must be the very same number."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from switchyard.engine.kernel.nodes import HOST, is_alive, process_start_time

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")


def test_it_is_psutils_create_time() -> None:
    child = subprocess.Popen(["sleep", "5"])
    try:
        for pid in (os.getpid(), child.pid, 1):
            assert process_start_time(pid) == psutil.Process(pid).create_time()
    finally:
        child.kill()
        child.wait()


def test_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    """/proc/PID/stat's second field is the command name in parentheses, which may hold
    ") (" itself: the fields are counted from the last ")"."""
    sleeper = tmp_path / "a) b (c"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", sleeper)
    child = subprocess.Popen([str(sleeper), "5"])
    try:
        assert psutil.Process(child.pid).name() == "a) b (c"
        assert process_start_time(child.pid) == psutil.Process(child.pid).create_time()
    finally:
        child.kill()
        child.wait()


def test_a_process_that_is_gone_has_none() -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid names nothing now
    assert process_start_time(child.pid) is None


def test_it_does_not_import_psutil() -> None:
    code = (
        "import os, sys\n"
        "from switchyard.engine.kernel.nodes import process_start_time\n"
        "assert process_start_time(os.getpid()) is not None\n"
        "assert process_start_time(2**22 + 7) is None\n"
        "print('psutil' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def state(pid: int) -> bytes:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return stat[stat.rfind(b")") + 2 :].split()[0]


def test_a_node_killed_but_not_reaped_is_dead() -> None:
    """A node's process killed with ``kill -9`` stays a zombie while its parent has not
    waited for it: it runs nothing, so its node is dead at once (its work adopted by a
    restarted node), not alive until its heartbeat ages. Its start time is still there:
    a group whose leader is a zombie may have live members, ours to kill."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        started = process_start_time(child.pid)
        now = datetime.now(UTC)
        row = {"host": HOST, "pid": child.pid, "proc_start_time": started, "heartbeat_at": now}
        assert is_alive(row, now)
        os.kill(child.pid, signal.SIGKILL)
        while state(child.pid) != b"Z":
            os.sched_yield()
        assert not is_alive(row, now)
        assert process_start_time(child.pid) == started == psutil.Process(child.pid).create_time()
    finally:
        child.kill()
        child.wait()


AS_NOBODY = (
    'mount -t proc -o hidepid="$0" proc /proc && '
    'exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"'
)
CHECK = """
import json, os, sys
from datetime import UTC, datetime
from switchyard.engine.kernel.nodes import HOST, is_alive, process_start_time
pid, started, gone = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
now = datetime.now(UTC)
def row(pid):
    return {"host": HOST, "pid": pid, "proc_start_time": started, "heartbeat_at": now}
print(json.dumps({
    "alive": is_alive(row(pid), now),
    "gone": is_alive(row(gone), now),
    "mine": is_alive({**row(os.getpid()), "proc_start_time": None}, now),
    "start": process_start_time(pid),
}))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")),
    reason="root, unshare and setpriv: a /proc with hidepid in a mount namespace of its own",
)
@pytest.mark.parametrize("hidepid", ["2", "1"])  # invisible, noaccess
def test_another_users_live_node_behind_hidepid_is_not_dead(hidepid: str) -> None:
    """/proc mounted with hidepid (systemd's ProtectProc=) hides other users' processes:
    psutil and /proc say "no such process". A live node of another user on this host
    then looked dead at once: a node of this user took over its running work and marked
    it stopped (so it stopped itself). Out of sight, its heartbeat decides, as on another
    host; a pid that is really gone is still dead at once, and a hidden group is never
    ours to kill (no start time)."""
    node = subprocess.Popen(["sleep", "30"])  # root's: another user's node for nobody
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        started = process_start_time(node.pid)
        assert started is not None
        args = [str(node.pid), repr(started), str(gone.pid)]
        isolated = ["unshare", "-m", "--propagation", "private", "sh", "-c", AS_NOBODY]
        out = subprocess.run(
            [*isolated, hidepid, sys.executable, "-c", CHECK, *args],
            capture_output=True,
            text=True,
            check=True,
        )
        seen = json.loads(out.stdout)
        assert seen == {"alive": True, "gone": False, "mine": True, "start": None}
    finally:
        node.kill()
        node.wait()


def test_a_command_name_made_to_look_like_a_zombie(tmp_path: Path) -> None:
    """A command name (any user chooses it) shaped like the fields after it: read from the
    first ")" it says "Z" (a zombie: dead) and a start time of its choosing. Read from
    the last one, the process is what it is: running, started when psutil says."""
    crafted = tmp_path / "a) Z 1 2 3 4 5 6 7 8 9"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", crafted)
    child = subprocess.Popen([str(crafted), "5"])
    try:
        name = psutil.Process(child.pid).name()
        assert name.startswith("a) Z 1")
        now = datetime.now(UTC)
        started = process_start_time(child.pid)
        assert started == psutil.Process(child.pid).create_time()
        row = {"host": HOST, "pid": child.pid, "proc_start_time": started, "heartbeat_at": now}
        assert is_alive(row, now)
    finally:
        child.kill()
        child.wait()

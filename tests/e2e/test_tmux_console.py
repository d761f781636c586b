"""The console in a real tmux at 80x24 on the demo data, driven by keys as an operator over
SSH would: it follows a live log, copies an id (the OSC 52 sequence is in the pane's raw
output and, with `set-clipboard on`, in tmux's paste buffer), cancels a run, completes a
work item, quits; and once more through a real ``ssh -t`` to 127.0.0.1.

The demo has no work item for the current user when this was written, so the test
publishes a one-form process sending one to them (``tmux-check``) before opening the
console.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e._tmux_helpers import WAIT, Sshd, TmuxConsole, need

pytestmark = pytest.mark.slow

SWITCHYARD = Path(sys.executable).parent / "switchyard"
CHECK = """\
process: tmux-check
variables:
  note: {{type: string}}
start: ask
states:
  ask:
    actions:
      - send_work_item: {{form: check, to: {{user: {user}}}}}
      - end_process: checked
forms:
  check:
    fields: [{{name: note, type: text}}]
    buttons:
      Done: [assign: {{note: done}}]
"""
TICK = re.compile(r"tick \d\d:\d\d:\d\d")


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    """The environment of a demo store in ``tmp_path`` (data, config, TZ)."""
    tmp_path.chmod(0o700)
    return {
        "SWITCHYARD_DB": f"sqlite+aiosqlite:///{tmp_path / 'switchyard.db'}",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TZ": "UTC",
    }


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [str(SWITCHYARD), *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def status(env: dict[str, str], instance_id: int) -> str:
    shown = json.loads(cli(env, "instance", "show", str(instance_id), "--json"))
    return str(shown["instance"]["status"])


def wait_status(env: dict[str, str], instance_id: int, wanted: str) -> None:
    last = ""
    for _ in range(int(WAIT * 4)):
        last = status(env, instance_id)
        if last == wanted:
            return
        subprocess.run(["sleep", "0.25"], check=True)
    raise AssertionError(f"#{instance_id} is {last}, not {wanted}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TmuxConsole]:
    console = TmuxConsole(tmp_path)
    try:
        yield console
    finally:
        console.kill()


def follow_and_copy(tmux: TmuxConsole) -> int:
    """On the Queue: highlight the continuous log-shipper (last lane), see its log grow,
    copy its id with `y`; return the id."""
    tmux.keys("2")
    tmux.wait(lambda s: re.search(r"streams +\d+ +log-shipper +running", s), "its queue row")
    tmux.keys("G")
    screen = tmux.wait(lambda s: re.search(r"log #\d+ log-shipper", s), "log-shipper's log")
    seen = set(TICK.findall(tmux.wait(lambda s: TICK.search(s), "a tick line")))
    tmux.wait(lambda s: set(TICK.findall(s)) - seen, "a new tick line (following)")

    tmux.keys("y")
    tmux.wait_text("copied")
    copies = tmux.copied()
    assert len(copies) == 1, tmux.raw()[-400:]
    assert copies[0].isdigit()
    screen = tmux.screen()
    assert f"log #{copies[0]} log-shipper" in screen, screen
    assert tmux.run("show-buffer") == copies[0]  # set-clipboard on: tmux kept it too
    return int(copies[0])


def quit_console(tmux: TmuxConsole) -> None:
    tmux.keys("q")
    screen = tmux.wait(lambda s: "Quit?" in s or "console exited" in s, "quit")
    if "Quit?" in screen:  # the embedded engine still runs the continuous schedule
        tmux.keys("y")
    tmux.wait_text("console exited 0")


def test_console_in_tmux_at_80x24(tmp_path: Path, store: dict[str, str], tmux: TmuxConsole) -> None:
    cli(store, "demo")
    definition = tmp_path / "check.yaml"
    definition.write_text(CHECK.format(user=getpass.getuser()))
    cli(store, "process", "publish", str(definition))
    check = int(cli(store, "start", "tmux-check").split()[0])

    tmux.start([str(SWITCHYARD)], store)
    tmux.wait_text("1 Schedules")

    shipper = follow_and_copy(tmux)

    tmux.keys("c")
    tmux.wait_text(f"Cancel #{shipper}?")
    tmux.keys("y")
    wait_status(store, shipper, "cancelled")

    # its item exists before the screen first loads: an empty "Mine" would open the screen
    # on the tab where the work is (the demo's group items)
    wait_status(store, check, "waiting")
    tmux.keys("4")
    tmux.wait_text("Work Items")
    tmux.keys("/")  # only this process's item, whatever else the demo offers
    tmux.wait_text("Show the work items of one process")
    tmux.type("tmux-check")
    tmux.keys("Enter")
    tmux.wait(
        lambda s: (
            "Show the work items" not in s and re.search(r"^ \d+ +Check +tmux-check", s, re.M)
        ),
        "the prompt closed and the item listed",
    )
    tmux.keys("Enter")
    tmux.wait(lambda s: f"Check · tmux-check · instance #{check}" in s and "F1 Done" in s, "form")
    tmux.keys("F1")
    tmux.wait_text("completed (Done)")
    wait_status(store, check, "completed")

    quit_console(tmux)


@pytest.fixture
def sshd() -> Iterator[Sshd]:
    need("/usr/sbin/sshd", "openssh-server")
    need("ssh", "openssh-client")
    need("ssh-keygen", "openssh-client")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root here to open a session (run as root, as CI does)")
    folder = Path(tempfile.mkdtemp(prefix="switchyard-sshd-"))
    server = Sshd(folder, getpass.getuser())
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_console_over_ssh_in_tmux(store: dict[str, str], tmux: TmuxConsole, sshd: Sshd) -> None:
    cli(store, "demo")
    remote = shlex.join(["env", *(f"{k}={v}" for k, v in store.items()), str(SWITCHYARD)])
    tmux.start(sshd.argv(remote), {})
    try:
        tmux.wait_text("1 Schedules")
    except AssertionError:
        raise AssertionError(f"sshd log: {sshd.log.read_text()}") from None

    follow_and_copy(tmux)  # OSC 52 crosses ssh into the outer tmux
    quit_console(tmux)

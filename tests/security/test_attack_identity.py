"""Attacks on identity (issue 11, section 2) as a person who may run switchyard through the
service account (sudo, or an SSH key with a forced command) but has no rights in its store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.tui.cli.access import AccessError, forced_argv

SWITCHYARD = Path(sys.executable).parent / "switchyard"
COMMANDS = ("demo", "whoami", "workitems")


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["demo"], {"SUDO_USER": "mallory"}),
        (["demo", "--open"], {"SUDO_USER": "mallory"}),
        (["--", "demo"], {"SUDO_USER": "mallory"}),
        (["--ssh-user", "mallory", "demo"], {"SSH_CONNECTION": "x"}),
        (["--ssh-user", "mallory"], {"SSH_ORIGINAL_COMMAND": "demo --open"}),
        (["--ssh-user", "mallory"], {"SSH_ORIGINAL_COMMAND": "switchyard demo"}),
    ],
)
def test_demo_is_refused_through_the_service_account(argv: list[str], env: dict[str, str]) -> None:
    """`sudo -u svc switchyard demo --open` made a demo store in which the person was an
    admin, and opened a console on it whose node runs that store's commands as the service
    account: a schedule there read the real store and its secret key."""
    with pytest.raises(AccessError) as info:
        forced_argv(argv, env, lambda: COMMANDS)
    assert info.value.exit_code == 4
    assert "demo: not accepted through" in str(info.value)


def test_demo_as_oneself_is_still_allowed() -> None:
    assert forced_argv(["demo"], {}, lambda: COMMANDS) == ["demo"]


@pytest.mark.timeout(60)
async def test_sudo_demo_makes_no_store_in_which_the_person_is_admin(
    sqlite_url: str, data_dir: Path, tmp_path: Path
) -> None:
    """The real binary, run as the store's owner with SUDO_USER (what sudo -u svc does)."""
    engine = await Engine.open(sqlite_url, data_dir=data_dir)
    await engine.close()
    xdg = tmp_path / "xdg"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(xdg),
        "SWITCHYARD_DB": sqlite_url,
        "SWITCHYARD_DATA": str(data_dir),
        "SUDO_USER": "mallory",
    }
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(SWITCHYARD), "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: demo: not accepted through sudo"), proc.stderr
    assert not (xdg / "switchyard" / "demo").exists()


@pytest.mark.timeout(60)
async def test_root_does_not_open_a_store_another_user_owns(
    sqlite_url: str, data_dir: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (chown)")
    engine = await Engine.open(sqlite_url, data_dir=data_dir)  # root: its first admin
    await engine.close()
    db = Path(sqlite_url.split("///", 1)[1])
    for path in (db.parent, db, *db.parent.glob(db.name + "-*")):
        os.chown(path, 65534, 65534)  # nobody, modes kept 0700/0600
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "SWITCHYARD_DB": sqlite_url,
        "SWITCHYARD_DATA": str(data_dir),
    }
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(SWITCHYARD), "whoami"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: db: {db} belongs to nobody, not to root"), proc.stderr
    assert "sudo -u nobody switchyard" in proc.stderr and "--allow-shared-mode" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = await asyncio.to_thread(
        subprocess.run,
        [str(SWITCHYARD), "--allow-shared-mode", "whoami"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the operator's explicit choice


def test_a_store_owned_by_another_uid_is_refused_but_root_owned_folders_are_fine() -> None:
    """The ownership rule for a non-root process (uid nobody here): its own files pass,
    another uid's are refused, root's are accepted (root can change anything anyway)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (chown, seteuid)")
    with tempfile.TemporaryDirectory(prefix="switchyard-owners-") as folder:
        os.chmod(folder, 0o711)  # nobody may stat what is inside
        _check_owners_as_nobody(Path(folder))


def _check_owners_as_nobody(tmp_path: Path) -> None:
    mine, theirs, roots = tmp_path / "mine.db", tmp_path / "theirs.db", tmp_path / "store"
    for path in (mine, theirs):
        path.write_text("")
    roots.mkdir()
    os.chown(mine, 65534, 65534)
    os.chown(theirs, 1, 1)  # daemon
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from switchyard.store import filemodes\n"
        "os.setegid(65534); os.seteuid(65534)\n"
        "filemodes.check_owned([(Path(sys.argv[1]), 'db'), (Path(sys.argv[2]), 'db dir')])\n"
        "try:\n"
        "    filemodes.check_owned([(Path(sys.argv[3]), 'db')])\n"
        "except filemodes.ForeignOwnerError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(mine), str(roots), str(theirs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"db: {theirs} belongs to daemon, not to nobody (run as its owner: "
        "sudo -u daemon switchyard …; or pass --allow-shared-mode)"
    )

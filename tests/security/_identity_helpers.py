"""Real OS users, a `switchyard` other users can execute, sudo and sshd for the identity and
file tests. The tests run as root (CI does); locally without root they are skipped.

- :func:`os_user` makes a user with a unique name (``useradd``), removed after (``userdel -r``).
- :func:`switchyard_for_others` is a `switchyard` executable any user may run: the venv's
  own when every folder up to its interpreter is reachable, else a tiny wrapper running the
  system python of the same version on the venv's site-packages (the venv's interpreter may
  live under a 0700 /root).
- :func:`as_user` runs it as a user (``runuser``) with a clean environment.
- :class:`Sshd` is a real sshd on 127.0.0.1 with a temp config, host key and port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd_support import launch, make_keys

VENV_BIN = Path(sys.executable).parent
SWITCHYARD = VENV_BIN / "switchyard"
TIMEOUT = 60.0


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates OS users (useradd) and runs as them (runuser)")
    for tool in ("useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def missing(tool: str, package: str) -> None:
    """Skip when ``tool`` is missing locally; fail in CI (where .ci/run installs it)."""
    if shutil.which(tool) is None and not Path(tool).exists():
        message = f"{tool} is missing (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}", pytrace=False)
        pytest.skip(message)


def unique(prefix: str = "sy") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def os_user(prefix: str = "sy", *, home: bool = True) -> Iterator[str]:
    """A new OS user (a home in /home when ``home``); removed with its home afterwards."""
    name = unique(prefix)
    args = ["useradd", "-s", "/bin/sh", "-m" if home else "-M", name]
    subprocess.run(args, check=True, capture_output=True)
    try:
        # "*": no password, but not locked (sshd refuses a locked account without PAM)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["pkill", "-KILL", "-u", name], check=False, capture_output=True)
        subprocess.run(["userdel", "-r", "-f", name], check=False, capture_output=True)


def _reachable(path: Path) -> bool:
    """Every folder up to ``path`` is searchable by others and the file executable (or the
    folder searchable)."""
    real = path.resolve()
    for folder in real.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(real).st_mode & stat.S_IXOTH)


SOURCES = Path(__file__).resolve().parents[2]  # the checkout: engine/, store/, tui/


@pytest.fixture(scope="session")
def switchyard_for_others() -> Iterator[str]:
    if _reachable(Path(sys.executable)) and _reachable(SWITCHYARD):
        yield str(SWITCHYARD)
        return
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = Path("/usr/bin") / version
    if not system.exists() or not _reachable(system):
        pytest.skip(f"{sys.executable} is not reachable by other users and {system} is missing")
    site = sysconfig.get_paths()["purelib"]
    for needed in (Path(site), SOURCES / "engine"):
        if not _reachable(needed):
            pytest.skip(f"{needed} is not reachable by other users (a folder above it lacks o+x)")
    folder = Path(tempfile.mkdtemp(prefix="switchyard-bin-"))
    try:
        os.chmod(folder, 0o755)
        wrapper = folder / "switchyard"
        wrapper.write_text(
            f"#!{system} -I\nimport site, sys\nsite.addsitedir({site!r})\n"
            "from switchyard.tui.cli import main\nsys.exit(main())\n"
        )
        os.chmod(wrapper, 0o755)
        yield str(wrapper)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clean_env(home: str, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def as_user(
    user: str, binary: str, *args: str, env: dict[str, str], cwd: str = "/"
) -> subprocess.CompletedProcess[str]:
    """``runuser -u USER -- env -i ENV BINARY ARGS`` (the environment is exactly ``env``)."""
    pairs = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *pairs, binary, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        check=False,
    )


def home_of(user: str) -> Path:
    import pwd

    return Path(pwd.getpwnam(user).pw_dir)


def uid_of(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def write_owned(path: Path, text: str, user: str, mode: int = 0o600) -> None:
    """Write ``path`` (and its missing folders, 0700) as belonging to ``user``."""
    import pwd

    entry = pwd.getpwnam(user)
    missing_dirs = [p for p in reversed(path.parents) if not p.exists()]
    for folder in missing_dirs:
        folder.mkdir(mode=0o700)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    path.write_text(text)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, mode)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sshd:
    """A real sshd on 127.0.0.1: its own config, host key and port (in ``folder``, root's);
    key-only, ``UsePAM no``, only ``user`` may log in, with the keys in its own
    ``~/.ssh/authorized_keys`` (StrictModes on)."""

    def __init__(self, folder: Path, user: str) -> None:
        self.folder = folder
        self.user = user
        self.port = free_port()
        self.client_key = folder / "client_key"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sshd:
        host_key = self.folder / "host_key"
        make_keys(host_key, self.client_key)
        self.log = self.folder / "sshd.log"
        self.proc = launch(
            self.folder,
            self.port,
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"PidFile {self.folder / 'sshd.pid'}\nUsePAM no\nStrictModes yes\n"
            f"AuthorizedKeysFile .ssh/authorized_keys\nAllowUsers {self.user}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin no\nAcceptEnv none\n"
            "LogLevel ERROR\n",
            self.log,
        )
        return self

    def authorize(self, forced_command: str) -> None:
        public = Path(f"{self.client_key}.pub").read_text().strip()
        line = f'command="{forced_command}",restrict {public}\n'
        write_owned(home_of(self.user) / ".ssh" / "authorized_keys", line, self.user)

    def ssh(self, command: str | None) -> subprocess.CompletedProcess[str]:
        args = [
            "ssh",
            "-p",
            str(self.port),
            "-i",
            str(self.client_key),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"{self.user}@127.0.0.1",
        ]
        if command is not None:
            args.append(command)
        return subprocess.run(
            args, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

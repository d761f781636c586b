"""A throwaway sshd on 127.0.0.1 for the tests that go through a real SSH session
(tests/security/_identity_helpers.py: forced commands; tests/e2e/_tmux_helpers.py: the
console over ``ssh -t``): keys made with ssh-keygen, the daemon started with the caller's
config and waited for until it listens."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path


def make_keys(*keys: Path) -> None:
    """An ed25519 key pair at each path (no passphrase)."""
    for key in keys:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            capture_output=True,
        )


def launch(folder: Path, port: int, config: str, log: Path) -> subprocess.Popen[bytes]:
    """Start sshd with ``config`` (written to ``folder/sshd_config``), its stderr in
    ``log``; return once it listens on ``port`` (RuntimeError after 10 s or if it exits)."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
    path = folder / "sshd_config"
    path.write_text(config)
    proc = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sshd did not listen within 10 s")

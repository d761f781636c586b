"""A real tmux server (its own socket, 80x24) around the console, and a throwaway sshd.

``TmuxConsole`` starts one session on a socket of its own (``tmux -L``) with
``set -g set-clipboard on``, copies everything the program writes to the pane into a file
(``pipe-pane -o``: the raw bytes, escape sequences included, so an OSC 52 copy can be
seen) and polls ``capture-pane -p`` for text (generous timeouts, no timing thresholds).
``Sshd`` runs sshd on a free port of 127.0.0.1 with a host key, a client key and an
authorized_keys file of its own (in a temporary folder; the user's ~/.ssh is not touched).
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sshd_support import launch, make_keys

WAIT = 60.0
OSC52 = re.compile(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)(?:\x07|\x1b\\)")


def need(tool: str, package: str) -> str:
    """The tool's path; skipped locally when missing (with what to install), failed in CI."""
    found = shutil.which(tool) or (tool if Path(tool).exists() else None)
    if found is None:
        message = f"{tool} is missing (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}", pytrace=False)
        pytest.skip(message)
    return found


class TmuxConsole:
    def __init__(self, folder: Path) -> None:
        self.tmux = need("tmux", "tmux")
        self.socket = f"sy-e2e-{uuid.uuid4().hex[:10]}"
        self.conf = folder / "tmux.conf"
        self.conf.write_text("set -g set-clipboard on\nset -g history-limit 100\n")
        self.raw_file = folder / "pane.raw"
        self.raw_file.touch()

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            [self.tmux, "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return proc.stdout

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        """Run ``argv`` in an 80x24 pane; when it ends the pane says `console exited N`."""
        command = f'{shlex.join(argv)}; echo "console exited $?"; sleep 600'
        setenv = [part for k, v in env.items() for part in ("-e", f"{k}={v}")]
        new = [self.tmux, "-L", self.socket, "-f", str(self.conf), "new-session", "-d"]
        subprocess.run(
            [*new, "-x", "80", "-y", "24", *setenv, command],
            check=True,
            timeout=30,
        )
        self.run("pipe-pane", "-o", f"cat >> {shlex.quote(str(self.raw_file))}")

    def screen(self) -> str:
        return self.run("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", key)

    def type(self, text: str) -> None:
        self.run("send-keys", "-l", text)

    def raw(self) -> bytes:
        return self.raw_file.read_bytes()

    def copied(self) -> list[str]:
        """Every text the program copied by OSC 52, oldest first."""
        return [base64.b64decode(m).decode() for m in OSC52.findall(self.raw())]

    def wait(self, probe: Callable[[str], object], what: str, within: float = WAIT) -> str:
        """Poll the pane until ``probe(screen)`` is truthy; return that screen."""
        deadline = time.monotonic() + within
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if probe(shown):
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{what}: not seen within {within:g}s; the pane shows:\n{shown}")

    def wait_text(self, text: str, within: float = WAIT) -> str:
        return self.wait(lambda s: text in s, repr(text), within)

    def kill(self) -> None:
        subprocess.run(
            [self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=30
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sshd:
    """sshd on 127.0.0.1 for the current user: key only, ``UsePAM no``, its own host key
    and authorized_keys (StrictModes off: the file is in a temporary folder)."""

    def __init__(self, folder: Path, user: str) -> None:
        self.folder = folder
        self.user = user
        self.port = free_port()
        self.client_key = folder / "client_key"
        self.log = folder / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sshd:
        host_key = self.folder / "host_key"
        make_keys(host_key, self.client_key)
        keys = self.folder / "authorized_keys"
        keys.write_text(Path(f"{self.client_key}.pub").read_text())
        keys.chmod(0o600)
        self.proc = launch(
            self.folder,
            self.port,
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
            f"PidFile {self.folder / 'sshd.pid'}\nUsePAM no\nStrictModes no\n"
            f"AuthorizedKeysFile {keys}\nAllowUsers {self.user}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            "PermitTTY yes\nLogLevel ERROR\n",
            self.log,
        )
        return self

    def argv(self, remote: str) -> list[str]:
        """``ssh -t`` to 127.0.0.1 running ``remote`` (a shell command line)."""
        return [
            "ssh", "-t", "-p", str(self.port), "-i", str(self.client_key),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"{self.user}@127.0.0.1", remote,
        ]  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

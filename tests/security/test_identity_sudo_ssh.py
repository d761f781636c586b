"""The two ways people reach a service account's store, for real: ``sudo -u SVC switchyard``
(a sudoers drop-in made by the test, checked with ``visudo -c``) and an SSH key in the
account's ``authorized_keys`` with ``command="switchyard --ssh-user alice",restrict`` (a real
sshd on 127.0.0.1). The person is the identity for rights and the audit log; they never
choose the store, and a forced command runs only switchyard commands (no shell)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from security._identity_helpers import (
    TIMEOUT,
    Sshd,
    clean_env,
    home_of,
    missing,
    need_root,
    os_user,
    unique,
)
from security._identity_helpers import switchyard_for_others as switchyard_for_others
from security._identity_stores import ServiceStore, ok, service_store


@pytest.fixture
def service(db_url: str, switchyard_for_others: str) -> Iterator[ServiceStore]:
    need_root()
    with os_user("sysvc") as user:
        yield service_store(user, switchyard_for_others, db_url)


def refused_in_audit(service: ServiceStore) -> list[tuple[str, str | None, str]]:
    audit = json.loads(ok(service.run("audit", "--json")))
    return [(a["login"], a["via"], a["detail"]["why"]) for a in audit if a["action"] == "refused"]


def test_sudo_to_the_service_account(service: ServiceStore) -> None:
    missing("sudo", "sudo")
    missing("visudo", "sudo")
    binary = service.binary
    with os_user("sya") as alice:
        ok(service.run("user", "add", alice, "--licence", "designer"))
        dropin = Path("/etc/sudoers.d") / unique("switchyard_test_")
        dropin.write_text(f"{alice} ALL=({service.user}) NOPASSWD: {binary}\n")
        try:
            dropin.chmod(0o440)
            check = subprocess.run(["visudo", "-c", "-f", str(dropin)], capture_output=True)
            assert check.returncode == 0, check.stderr

            def sudo(*args: str) -> subprocess.CompletedProcess[str]:
                env = clean_env(str(home_of(alice)), LOGNAME=service.user, USER=service.user)
                pairs = [f"{k}={v}" for k, v in env.items()]
                runuser = ["runuser", "-u", alice, "--", "env", "-i", *pairs]
                return subprocess.run(
                    [*runuser, "sudo", "-n", "-u", service.user, binary, *args],
                    capture_output=True,
                    text=True,
                    timeout=TIMEOUT,
                    cwd="/",
                    check=False,
                )

            assert ok(sudo("whoami")).splitlines()[:2] == [
                f"{alice} via sudo (OS account {service.user}): -",
                "licence: designer",
            ]
            denied = sudo("user", "add", "mallory", "--admin")
            assert (denied.returncode, denied.stderr) == (
                4,
                f"error: {alice} needs the admin right to add users\n",
            )
            elsewhere = sudo("--db", "/tmp/elsewhere.db", "init")
            assert elsewhere.returncode == 4, elsewhere.stderr
            assert elsewhere.stderr.startswith("error: --db: not accepted through sudo")
            assert not Path("/tmp/elsewhere.db").exists()
        finally:
            dropin.unlink(missing_ok=True)
    assert refused_in_audit(service) == [
        (alice, "sudo", f"{alice} needs the admin right to add users")
    ]


@pytest.fixture
def sshd(service: ServiceStore) -> Iterator[Sshd]:
    missing("/usr/sbin/sshd", "openssh-server")
    missing("ssh", "openssh-client")
    folder = Path(tempfile.mkdtemp(prefix="switchyard-sshd-"))
    server = Sshd(folder, service.user)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_ssh_forced_command(service: ServiceStore, sshd: Sshd) -> None:
    ok(service.run("user", "add", "alice", "--licence", "designer"))
    sshd.authorize(f"{service.binary} --ssh-user alice")

    def ssh(command: str) -> tuple[int, str, str]:
        proc = sshd.ssh(command)
        return proc.returncode, proc.stdout, proc.stderr

    code, out, err = ssh("switchyard whoami")
    assert code == 0, (err, sshd.log.read_text())
    assert out.splitlines()[:2] == [
        f"alice via ssh (OS account {service.user}): -",
        "licence: designer",
    ]
    assert ssh("whoami --json")[0] == 0  # the leading `switchyard` is optional
    assert ssh("user add mallory --admin") == (
        4,
        "",
        "error: alice needs the admin right to add users\n",
    )
    # the client's words are switchyard words, split without a shell
    assert ssh("cat /etc/passwd") == (2, "", "error: ssh: 'cat' is not a switchyard command\n")
    assert ssh("whoami; id") == (2, "", "error: ssh: 'whoami;' is not a switchyard command\n")
    assert ssh("$(id) whoami")[0] == 2
    # the person chooses neither the store nor who they are
    assert ssh("switchyard --db /tmp/x.db whoami") == (
        4,
        "",
        "error: --db: not accepted through ssh\n",
    )
    assert ssh(f"switchyard --ssh-user {service.user} whoami") == (
        4,
        "",
        "error: --ssh-user: not accepted through ssh\n",
    )
    assert not os.path.exists("/tmp/x.db")
    assert refused_in_audit(service) == [
        ("alice", "ssh", "alice needs the admin right to add users")
    ]

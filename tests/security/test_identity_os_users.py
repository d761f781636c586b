"""Identity comes from the real uid, never from LOGNAME/USER; SUDO_USER and --ssh-user are
believed only for the store's owner. Real OS users (useradd), real processes (runuser), real
stores on both backends.

Reproduction (issue 11): on a store everyone could write, ``LOGNAME=root switchyard user add
nobody --admin`` run by the OS user nobody made nobody an admin, and the audit log named
root (``getpass.getuser()`` believes LOGNAME)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from security._identity_helpers import as_user, clean_env, need_root, os_user
from security._identity_helpers import switchyard_for_others as switchyard_for_others
from security._identity_stores import (
    ServiceStore,
    SharedStore,
    ok,
    service_store,
    shared_store,
)


@pytest.fixture
def shared(db_url: str) -> Iterator[SharedStore]:
    need_root()
    yield from shared_store(db_url)


@pytest.fixture
def service(db_url: str, switchyard_for_others: str) -> Iterator[ServiceStore]:
    need_root()
    with os_user("sysvc") as user:
        yield service_store(user, switchyard_for_others, db_url)


def test_logname_and_user_do_not_make_an_admin(
    shared: SharedStore, switchyard_for_others: str
) -> None:
    with os_user("syu", home=False) as mallory:
        ok(shared.root("user", "add", mallory, "--licence", "direct"))
        env = clean_env("/", LOGNAME="root", USER="root", USERNAME="root", **shared.env)

        def run(*args: str):  # type: ignore[no-untyped-def]
            return as_user(mallory, switchyard_for_others, "--allow-shared-mode", *args, env=env)

        # before: exit 0, mallory an admin, the audit log saying root did it
        attempt = run("user", "set", mallory, "--admin")
        assert (attempt.returncode, attempt.stderr) == (
            4,
            f"error: {mallory} needs the admin right to change users\n",
        )
        assert ok(run("whoami")).startswith(f"{mallory}: ")

    users = {u["login"]: u for u in json.loads(ok(shared.root("user", "list", "--json")))}
    assert users[mallory]["admin"] is False
    refused = [a for a in shared.audit() if a["action"] == "refused"]
    assert [(a["login"], a["via"]) for a in refused] == [(mallory, None)]


def test_sudo_user_and_ssh_user_are_not_believed_from_someone_who_does_not_own_the_store(
    shared: SharedStore, switchyard_for_others: str
) -> None:
    with os_user("syu", home=False) as bob:
        ok(shared.root("user", "add", bob, "--licence", "direct"))
        env = clean_env("/", SUDO_USER="root", SUDO_UID="0", **shared.env)

        def run(*args: str, **extra: str):  # type: ignore[no-untyped-def]
            return as_user(bob, switchyard_for_others, *args, env=env | extra)

        # SUDO_USER is ignored: bob is not the store's owner, so nobody vouches for it
        assert ok(run("--allow-shared-mode", "whoami")).startswith(f"{bob}: ")
        # --ssh-user is refused outright
        ssh = run("--allow-shared-mode", "--ssh-user", "root", "whoami", SSH_CONNECTION="x 1 y 2")
        assert ssh.returncode == 4, ssh.stderr
        assert ssh.stderr == (
            f"error: {bob} may not use --ssh-user: only the store's owner may (it is for the "
            "forced command of an SSH key in the owner's authorized_keys)\n"
        )
        # through sudo, the person never chooses the store
        other = run("--db", shared.env["SWITCHYARD_DB"], "--allow-shared-mode", "whoami")
        assert other.returncode == 4, other.stderr
        assert other.stderr.startswith("error: --db: not accepted through sudo")
    assert [a["login"] for a in shared.audit() if a["action"] == "refused"] == []


def test_the_store_owner_acts_for_the_person_sudo_or_sshd_names(service: ServiceStore) -> None:
    svc = service.user
    ok(service.run("user", "add", "alice", "--licence", "designer"))
    # the owner itself: its own login (made admin when it created the store)
    assert ok(service.run("whoami")).splitlines()[:2] == [f"{svc}: -", "licence: designer, admin"]

    sudo = service.run("whoami", SUDO_USER="alice", SUDO_UID="1")
    assert ok(sudo).splitlines()[:2] == [
        f"alice via sudo (OS account {svc}): -",
        "licence: designer",
    ]
    refused = service.run("user", "add", "mallory", SUDO_USER="alice")
    assert (refused.returncode, refused.stderr) == (
        4,
        "error: alice needs the admin right to add users\n",
    )

    # --ssh-user: only under sshd (SSH_CONNECTION), never through sudo
    local = service.run("--ssh-user", "alice", "whoami")
    assert (local.returncode, local.stderr) == (
        4,
        "error: --ssh-user is accepted only under sshd\n",
    )
    ssh = service.run("--ssh-user", "alice", "whoami", SSH_CONNECTION="127.0.0.1 5 127.0.0.1 22")
    assert ok(ssh).startswith(f"alice via ssh (OS account {svc}): -")

    audit = json.loads(ok(service.run("audit", "--json")))
    refusals = [
        (a["login"], a["via"], a["detail"]["os_login"]) for a in audit if a["action"] == "refused"
    ]
    assert refusals == [("alice", "sudo", svc)]


def test_a_shared_env_file_is_refused(service: ServiceStore) -> None:
    env_file = service.home / ".config" / "switchyard" / "env"
    env_file.chmod(0o644)
    proc = service.run("whoami")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"error: env file: {env_file} has mode 0644, readable or writable by others "
        "(chmod 600 it)\n"
    )

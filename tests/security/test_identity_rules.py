"""The rules of who is asking, without OS users: os_identity.resolve on the real uid and
password database, the SSH forced-command argv, the env file. Fast; no root needed."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from switchyard.engine.errors import Refused, SharedModeRefused, SwitchyardError
from switchyard.engine.people.os_identity import Channel, OsIdentity, resolve
from switchyard.tui.cli.access import AccessError, forced_argv, load_env_file

ME = pwd.getpwuid(os.getuid()).pw_name
UID = os.getuid()
COMMANDS = ("whoami", "instances", "workitems", "user", "schedule")


def commands() -> tuple[str, ...]:
    return COMMANDS


def test_the_login_is_the_real_uid_whatever_the_environment() -> None:
    env = {"LOGNAME": "root2", "USER": "root2", "USERNAME": "x", "HOME": "/"}
    assert resolve(store_owner=UID, environ=env) == OsIdentity(ME, ME)
    assert resolve(store_owner=None, environ=env) == OsIdentity(ME, ME)


def test_sudo_user_is_believed_only_for_the_store_owner() -> None:
    env = {"SUDO_USER": "alice"}
    assert resolve(store_owner=UID, environ=env) == OsIdentity("alice", ME, Channel.SUDO)
    assert resolve(store_owner=UID + 1, environ=env) == OsIdentity(ME, ME)
    assert resolve(store_owner=None, environ=env) == OsIdentity(ME, ME)  # unknown: nobody's
    with pytest.raises(SwitchyardError, match="SUDO_USER: 'a b' is not a login name"):
        resolve(store_owner=UID, environ={"SUDO_USER": "a b"})
    assert resolve(store_owner=UID, environ=env).describe() == "alice via sudo"


def test_ssh_user_needs_the_owner_and_sshd_and_no_sudo() -> None:
    sshd = {"SSH_CONNECTION": "127.0.0.1 5 127.0.0.1 22"}
    assert resolve(store_owner=UID, ssh_user="bob", environ=sshd) == OsIdentity(
        "bob", ME, Channel.SSH
    )
    for owner, env, why in [
        (UID + 1, sshd, "only the store's owner may"),
        (None, sshd, "only the store's owner may"),
        (UID, {}, "accepted only under sshd"),
        (UID, sshd | {"SUDO_USER": "carol"}, "not accepted through sudo"),
    ]:
        with pytest.raises(Refused, match=why) as info:
            resolve(store_owner=owner, ssh_user="bob", environ=env)
        assert info.value.exit_code == 4


def test_forced_command_argv() -> None:
    forced = ["--ssh-user", "alice"]

    def argv(original: str | None, base: list[str] = forced, **env: str) -> list[str]:
        environ = dict(env)
        if original is not None:
            environ["SSH_ORIGINAL_COMMAND"] = original
        return forced_argv(base, environ, commands)

    assert argv("switchyard instances --json") == [*forced, "instances", "--json"]
    assert argv("/opt/sy/bin/switchyard whoami") == [*forced, "whoami"]
    assert argv("--as carol whoami") == [*forced, "--as", "carol", "whoami"]
    assert argv("user add 'Ann Smith'") == [*forced, "user", "add", "Ann Smith"]
    assert argv(None) == forced  # the console
    assert argv("") == forced
    # a forced command naming a command ignores the client's words
    pinned = [*forced, "workitems", "--mine"]
    assert argv("user add mallory --admin", pinned) == pinned
    # not under a forced command: argv as given, SSH_ORIGINAL_COMMAND ignored
    assert forced_argv(["whoami"], {"SSH_ORIGINAL_COMMAND": "user add x"}, commands) == ["whoami"]
    for original, code, message in [
        ("cat /etc/passwd", 2, "ssh: 'cat' is not a switchyard command"),
        ("whoami; id", 2, "ssh: 'whoami;' is not a switchyard command"),
        ("whoami 'unterminated", 2, "ssh: cannot parse the command"),
        ("--json", 2, "ssh: name a switchyard command"),
        ("--db /tmp/x.db whoami", 4, "--db: not accepted through ssh"),
        ("--db=/tmp/x.db whoami", 4, "--db: not accepted through ssh"),
        ("--ssh-user root whoami", 4, "--ssh-user: not accepted through ssh"),
    ]:
        with pytest.raises(AccessError) as info:
            argv(original)
        assert (info.value.exit_code, str(info.value)[: len(message)]) == (code, message)
    # a command's own argv after `--` may say anything
    assert argv("schedule add x -- tool --db y") == [
        *forced,
        "schedule",
        "add",
        "x",
        "--",
        "tool",
        "--db",
        "y",
    ]


def test_through_sudo_the_store_is_not_the_callers_choice() -> None:
    sudo = {"SUDO_USER": "alice"}
    with pytest.raises(AccessError, match="--db: not accepted through sudo") as info:
        forced_argv(["--db", "/tmp/mine.db", "init"], sudo, commands)
    assert info.value.exit_code == 4
    assert forced_argv(["--allow-shared-mode", "whoami"], sudo, commands) == [
        "--allow-shared-mode",
        "whoami",
    ]
    assert forced_argv(["--db", "/tmp/mine.db", "whoami"], {}, commands)[0] == "--db"


def test_env_file(tmp_path: Path) -> None:
    path = tmp_path / "env"
    path.write_text("# comment\n\nSWITCHYARD_DB='postgresql://u:pw@h/db'\nSWITCHYARD_DATA=/d\n")
    path.chmod(0o600)
    environ = {"SWITCHYARD_DATA": "/already"}
    assert load_env_file(environ, path) == path
    assert environ == {"SWITCHYARD_DB": "postgresql://u:pw@h/db", "SWITCHYARD_DATA": "/already"}
    assert load_env_file({}, tmp_path / "missing") is None

    path.chmod(0o640)
    with pytest.raises(SharedModeRefused, match=r"env file: .* has mode 0640.*\(chmod 600 it\)$"):
        load_env_file({}, path)
    path.chmod(0o600)
    path.write_text("PATH=/evil\n")
    with pytest.raises(AccessError, match=r"env file: .*:1: expected SWITCHYARD_NAME=value"):
        load_env_file({}, path)

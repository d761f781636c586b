"""Who is at the keyboard, from the operating system: never from LOGNAME, USER or HOME.

The login is the password-database name of the real uid (``pwd.getpwuid(os.getuid())``).
On a shared host the store belongs to a service account, and people reach it through
``sudo -u switchyard switchyard …`` or an SSH key whose forced command is
``switchyard --ssh-user alice``. The person named by sudo (``SUDO_USER``) or by the forced
command (``--ssh-user``) is believed only when this process runs as the store's owner: only
the owner could have written the store anyway, so believing it opens nothing new. Anyone
else acts as their own login: ``SUDO_USER`` is ignored, ``--ssh-user`` is refused.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from switchyard.engine.errors import Refused, SwitchyardError

LOGIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]{0,99}$")


class Channel(StrEnum):
    """How the person reached Switchyard."""

    LOCAL = "local"  # their own uid
    SUDO = "sudo"  # sudo -u <store owner>, the person is SUDO_USER
    SSH = "ssh"  # the store owner's authorized_keys forced command, --ssh-user <person>


@dataclass(frozen=True)
class OsIdentity:
    """``login`` is the person (rights, masking, audit); ``os_login`` the uid's login."""

    login: str
    os_login: str
    via: Channel = Channel.LOCAL

    @property
    def delegated(self) -> bool:
        return self.via is not Channel.LOCAL

    def describe(self) -> str:
        """``alice``, or ``alice via sudo`` / ``alice via ssh``."""
        return self.login if not self.delegated else f"{self.login} via {self.via.value}"


def os_login(uid: int | None = None) -> str:
    """The login of the real uid, from the password database."""
    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise Refused("identity", f"uid {uid} has no login in the password database") from None


def check_login(value: str, field: str) -> str:
    if not LOGIN_NAME.match(value):
        raise SwitchyardError(field, f"'{value[:100]}' is not a login name")
    return value


def resolve(
    *,
    store_owner: int | None,
    ssh_user: str | None = None,
    environ: Mapping[str, str] | None = None,
    uid: int | None = None,
) -> OsIdentity:
    """The person asking, given the uid owning the store (None: unknown, so not this one).

    - ``--ssh-user P``: P via ssh, when this process runs as the store's owner and sshd
      started it (``SSH_CONNECTION`` is set) and sudo did not (no ``SUDO_USER``); else
      refused (exit 4).
    - ``SUDO_USER=P`` as the store's owner: P via sudo. Not the owner: ignored.
    - otherwise the uid's own login.
    """
    env = os.environ if environ is None else environ
    uid = os.getuid() if uid is None else uid
    me = os_login(uid)
    owner = store_owner is not None and store_owner == uid
    if ssh_user is not None:
        check_login(ssh_user, "--ssh-user")
        if not owner:
            raise Refused(
                "--ssh-user",
                f"{me} may not use --ssh-user: only the store's owner may (it is for the "
                "forced command of an SSH key in the owner's authorized_keys)",
            )
        if env.get("SUDO_USER"):
            raise Refused("--ssh-user", "--ssh-user is not accepted through sudo")
        if not env.get("SSH_CONNECTION"):
            raise Refused("--ssh-user", "--ssh-user is accepted only under sshd")
        return OsIdentity(ssh_user, me, Channel.SSH)
    sudo_user = env.get("SUDO_USER")
    if owner and sudo_user and sudo_user != me:
        return OsIdentity(check_login(sudo_user, "SUDO_USER"), me, Channel.SUDO)
    return OsIdentity(me, me)


def delegation_requested(ssh_user: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """True when a person may be asking through the store owner's account (sudo or ssh)."""
    env = os.environ if environ is None else environ
    return ssh_user is not None or bool(env.get("SUDO_USER"))

"""Who is asking: the identity of an engine's user, the licence ladder, rights on a process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchyard.store.core import LICENCES

ADMIN = "admin"
RIGHTS = ("launch", "view", "manage")


def licence_rank(licence: str) -> int:
    """direct < group < monitor < designer; an unknown licence ranks below them all."""
    return LICENCES.index(licence) if licence in LICENCES else -1


@dataclass(frozen=True)
class Identity:
    """The Switchyard user an engine acts as. ``real_login`` is the person behind it when
    an admin acts as someone else (``--as``), else None. ``via`` is ``sudo`` or ``ssh``
    when the person came through the store owner's account ``os_login``, else None."""

    login: str
    name: str | None
    licence: str
    admin: bool
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    real_login: str | None = None
    via: str | None = None
    os_login: str | None = None

    def has_licence(self, licence: str) -> bool:
        """Licences are cumulative: a designer holds every lower licence."""
        return licence_rank(self.licence) >= licence_rank(licence)


def identity_from(
    row: dict[str, Any],
    groups: list[str],
    real_login: str | None,
    via: str | None = None,
    os_login: str | None = None,
) -> Identity:
    return Identity(
        login=row["login"],
        name=row.get("name"),
        licence=row["licence"],
        admin=bool(row["admin"]),
        groups=tuple(groups),
        roles=tuple(row.get("roles") or ()),
        real_login=real_login,
        via=via,
        os_login=os_login,
    )


@dataclass(frozen=True)
class Access:
    """What one identity may do with one process (rights on it and on "*" combined)."""

    launch: bool = False
    view: bool = False
    manage: bool = False

    @classmethod
    def everything(cls) -> Access:
        return cls(True, True, True)

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> Access:
        return cls(
            launch=any(r["launch"] for r in rows),
            # managing an instance means finding and reading it first
            view=any(r["view"] or r["manage"] for r in rows),
            manage=any(r["manage"] for r in rows),
        )

    def has(self, right: str) -> bool:
        return bool(getattr(self, right))

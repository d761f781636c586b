"""What the engine hands out about people, rights, security specs and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class UserView:
    login: str
    name: str | None
    licence: str
    admin: bool
    roles: list[str]
    groups: list[str]
    created_at: datetime | None


@dataclass(frozen=True)
class GroupView:
    name: str
    members: list[str]


@dataclass(frozen=True)
class RightView:
    process: str  # a process (or command schedule) name, or "*" for every process
    kind: str  # user | group
    subject: str
    launch: bool
    view: bool
    manage: bool
    updated_at: datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class SecSpecView:
    name: str
    users: list[str]
    groups: list[str]
    roles: list[str]


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime | None
    login: str
    as_login: str | None
    action: str
    target: str | None
    detail: dict[str, Any]
    via: str | None = None  # sudo | ssh: the person came through the store owner's account

    @property
    def who(self) -> str:
        """``alice``, ``alice via sudo``, ``alice via ssh as carol``."""
        via = f" via {self.via}" if self.via else ""
        return self.login + via + (f" as {self.as_login}" if self.as_login else "")


def user_view(row: dict[str, Any], groups: list[str]) -> UserView:
    return UserView(
        login=row["login"],
        name=row.get("name"),
        licence=row["licence"],
        admin=bool(row["admin"]),
        roles=list(row.get("roles") or []),
        groups=list(groups),
        created_at=row.get("created_at"),
    )


def right_view(row: dict[str, Any]) -> RightView:
    return RightView(
        process=row["process"],
        kind=row["subject_kind"],
        subject=row["subject"],
        launch=bool(row["launch"]),
        view=bool(row["view"]),
        manage=bool(row["manage"]),
        updated_at=row.get("updated_at"),
        updated_by=row.get("updated_by"),
    )


def secspec_view(row: dict[str, Any]) -> SecSpecView:
    return SecSpecView(
        name=row["name"],
        users=list(row.get("users") or []),
        groups=list(row.get("groups") or []),
        roles=list(row.get("roles") or []),
    )


def audit_view(row: dict[str, Any]) -> AuditView:
    return AuditView(
        id=int(row["id"]),
        at=row.get("at"),
        login=row["login"],
        as_login=row.get("as_login"),
        action=row["action"],
        target=row.get("target"),
        detail=dict(row.get("detail") or {}),
        via=(row.get("detail") or {}).get("via"),
    )

"""The people half of the engine's door: users, groups, rights, security specifications
and the audit log (the checks themselves: guard.py and rules.py). Mixed into ``Engine``
(engine/api.py). Every change is recorded in the audit log with who made it."""

from __future__ import annotations

import re
from typing import Any

from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.people.guard import PEOPLE_CHANGED, Guard
from switchyard.engine.people.rules import admin, anyone, rule
from switchyard.engine.people.views import (
    AuditView,
    GroupView,
    RightView,
    SecSpecView,
    UserView,
    audit_view,
    right_view,
    secspec_view,
    user_view,
)
from switchyard.store.models import ALL_PROCESSES, LICENCES, SUBJECT_GROUP, SUBJECT_USER
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import schedules as sched_q

LOGIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}$")
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
ROLE = GROUP


def _check(pattern: re.Pattern[str], value: str, field: str, what: str) -> str:
    if not pattern.match(value or ""):
        raise SwitchyardError(
            field,
            f"{value!r} is not a valid {what}: letters, digits and _ . - "
            + ("@ " if what == "login" else ": ")
            + "(at most 100, starting with a letter or digit)",
        )
    return value


def _licence(value: str) -> str:
    if value not in LICENCES:
        raise SwitchyardError(
            "licence", f"unknown licence '{value}' (one of {', '.join(LICENCES)})"
        )
    return value


def _names(values: Any, pattern: re.Pattern[str], field: str, what: str) -> list[str]:
    out: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(_check(pattern, part, field, what))
    return out


class PeopleApi(Guard):
    # ------------------------------------------------------------- users
    @rule(admin("add users"))
    async def add_user(
        self,
        login: str,
        name: str | None = None,
        licence: str = "direct",
        admin: bool = False,
        roles: list[str] | tuple[str, ...] = (),
    ) -> UserView:
        _check(LOGIN, login, "login", "login")
        row = {
            "login": login,
            "name": name or None,
            "licence": _licence(licence),
            "admin": bool(admin),
            "roles": _names(roles, ROLE, "role", "role"),
        }
        async with self.tx() as tx:
            if await people_q.get_user(tx.conn, login):
                raise Conflict("login", f"user '{login}' exists already")
            await people_q.insert_user(tx.conn, {**row, "created_at": tx.now})
            await self._audit(tx, "user.add", login, **row)
            tx.emit(PEOPLE_CHANGED, login)
        return await self._user(login)

    async def _user(self, login: str) -> UserView:
        async with self.store.read() as conn:
            row = await people_q.get_user(conn, login)
            groups = await people_q.groups_of(conn, login)
        if row is None:
            raise NotFound("login", f"unknown user '{login}'")
        return user_view(row, groups)

    @rule(anyone)
    async def users(self) -> list[UserView]:
        async with self.store.read() as conn:
            rows = await people_q.list_users(conn)
            pairs = await people_q.memberships(conn)
        return [user_view(r, [g for g, u in pairs if u == r["login"]]) for r in rows]

    @rule(admin("change users"))
    async def set_user(
        self,
        login: str,
        *,
        name: str | None = None,
        licence: str | None = None,
        admin: bool | None = None,
        roles: list[str] | None = None,
    ) -> UserView:
        """Change what is given; the rest stays. The last admin keeps the admin flag."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name or None
        if licence is not None:
            values["licence"] = _licence(licence)
        if admin is not None:
            values["admin"] = bool(admin)
        if roles is not None:
            values["roles"] = _names(roles, ROLE, "role", "role")
        async with self.tx() as tx:
            row = await people_q.get_user(tx.conn, login)
            if row is None:
                raise NotFound("login", f"unknown user '{login}'")
            if admin is False and row["admin"] and await people_q.count_admins(tx.conn) == 1:
                raise Conflict("admin", f"'{login}' is the last admin; make another admin first")
            if values:
                await people_q.update_user(tx.conn, login, values)
                await self._audit(tx, "user.set", login, **values)
                tx.emit(PEOPLE_CHANGED, login)
        return await self._user(login)

    @rule(admin("remove users"))
    async def remove_user(self, login: str) -> None:
        """Removes the user, their group memberships and the rights granted to them."""
        async with self.tx() as tx:
            row = await people_q.get_user(tx.conn, login)
            if row is None:
                raise NotFound("login", f"unknown user '{login}'")
            if row["admin"] and await people_q.count_admins(tx.conn) == 1:
                raise Conflict("login", f"'{login}' is the last admin; make another admin first")
            await people_q.delete_user(tx.conn, login)
            await self._audit(tx, "user.remove", login)
            tx.emit(PEOPLE_CHANGED, login)

    # ------------------------------------------------------------ groups
    @rule(admin("add groups"))
    async def add_group(self, name: str) -> GroupView:
        _check(GROUP, name, "name", "group name")
        async with self.tx() as tx:
            if await people_q.get_group(tx.conn, name):
                raise Conflict("name", f"group '{name}' exists already")
            await people_q.insert_group(tx.conn, name, tx.now)
            await self._audit(tx, "group.add", name)
            tx.emit(PEOPLE_CHANGED, name)
        return GroupView(name, [])

    @rule(anyone)
    async def groups(self) -> list[GroupView]:
        async with self.store.read() as conn:
            rows = await people_q.list_groups(conn)
            pairs = await people_q.memberships(conn)
        return [GroupView(r["name"], [u for g, u in pairs if g == r["name"]]) for r in rows]

    @rule(admin("remove groups"))
    async def remove_group(self, name: str) -> None:
        """Removes the group, its memberships and the rights granted to it."""
        async with self.tx() as tx:
            if not await people_q.delete_group(tx.conn, name):
                raise NotFound("group", f"unknown group '{name}'")
            await self._audit(tx, "group.remove", name)
            tx.emit(PEOPLE_CHANGED, name)

    @rule(admin("change group members"))
    async def add_member(self, group: str, login: str) -> GroupView:
        async with self.tx() as tx:
            await self._group_and_user(tx, group, login)
            if await people_q.add_member(tx.conn, group, login):
                await self._audit(tx, "group.member.add", group, login=login)
                tx.emit(PEOPLE_CHANGED, group)
        return await self._group(group)

    @rule(admin("change group members"))
    async def remove_member(self, group: str, login: str) -> GroupView:
        async with self.tx() as tx:
            await self._group_and_user(tx, group, login)
            if not await people_q.remove_member(tx.conn, group, login):
                raise NotFound("login", f"{login} is not a member of {group}")
            await self._audit(tx, "group.member.remove", group, login=login)
            tx.emit(PEOPLE_CHANGED, group)
        return await self._group(group)

    async def _group_and_user(self, tx: Tx, group: str, login: str) -> None:
        if not await people_q.get_group(tx.conn, group):
            raise NotFound("group", f"unknown group '{group}' (add it: switchyard group add)")
        if not await people_q.get_user(tx.conn, login):
            raise NotFound("login", f"unknown user '{login}' (add it: switchyard user add)")

    async def _group(self, name: str) -> GroupView:
        for group in await self.groups():
            if group.name == name:
                return group
        raise NotFound("group", f"unknown group '{name}'")

    # ------------------------------------------------------------ rights
    async def _subject(self, tx: Tx, subject: str, kind: str | None) -> str:
        if kind not in (None, SUBJECT_USER, SUBJECT_GROUP):
            raise SwitchyardError("kind", f"unknown kind '{kind}' (user or group)")
        is_user = await people_q.get_user(tx.conn, subject) is not None
        is_group = await people_q.get_group(tx.conn, subject) is not None
        if kind == SUBJECT_USER and not is_user:
            raise NotFound("subject", f"unknown user '{subject}'")
        if kind == SUBJECT_GROUP and not is_group:
            raise NotFound("subject", f"unknown group '{subject}'")
        if kind is None:
            if is_user and is_group:
                raise SwitchyardError(
                    "subject", f"'{subject}' is both a user and a group: say which (--kind)"
                )
            if not (is_user or is_group):
                raise NotFound("subject", f"no user or group named '{subject}'")
            kind = SUBJECT_USER if is_user else SUBJECT_GROUP
        return kind

    async def _rights_target(self, tx: Tx, process: str) -> None:
        if process == ALL_PROCESSES:
            return
        if await proc_q.latest(tx.conn, process) or await sched_q.get_by_name(tx.conn, process):
            return
        raise NotFound(
            "process",
            f"unknown process or schedule '{process}' (publish it first, or use '*' for all)",
        )

    @rule(admin("grant rights"))
    async def grant(
        self,
        process: str,
        subject: str,
        *,
        launch: bool = False,
        view: bool = False,
        manage: bool = False,
        kind: str | None = None,
    ) -> RightView:
        """Add rights (launch / view / manage) on a process, a command schedule or "*" to a
        user or a group; rights already held stay."""
        if not (launch or view or manage):
            raise SwitchyardError("right", "say which: launch, view and/or manage")
        async with self.tx() as tx:
            kind = await self._subject(tx, subject, kind)
            await self._rights_target(tx, process)
            row = await people_q.get_right(tx.conn, process, kind, subject)
            flags = {
                "launch": launch or bool(row and row["launch"]),
                "view": view or bool(row and row["view"]),
                "manage": manage or bool(row and row["manage"]),
            }
            stamp = {"updated_at": tx.now, "updated_by": self.user}
            if row is None:
                await people_q.insert_right(
                    tx.conn,
                    {"process": process, "subject_kind": kind, "subject": subject} | flags | stamp,
                )
            else:
                await people_q.update_right(tx.conn, row["id"], flags | stamp)
            await self._audit(
                tx, "right.grant", process, kind=kind, subject=subject, launch=launch, view=view,
                manage=manage,
            )  # fmt: skip
            tx.emit(PEOPLE_CHANGED, process)
            row = await people_q.get_right(tx.conn, process, kind, subject)
        assert row is not None
        return right_view(row)

    @rule(admin("revoke rights"))
    async def revoke(
        self,
        process: str,
        subject: str,
        *,
        launch: bool = False,
        view: bool = False,
        manage: bool = False,
        kind: str | None = None,
    ) -> RightView | None:
        """Take rights away (all three when none is named); returns what is left, or None
        when nothing is left."""
        everything = not (launch or view or manage)
        async with self.tx() as tx:
            kind = await self._subject(tx, subject, kind)
            row = await people_q.get_right(tx.conn, process, kind, subject)
            if row is None:
                raise NotFound("right", f"{kind} {subject} holds no rights on '{process}'")
            flags = {
                "launch": bool(row["launch"]) and not (launch or everything),
                "view": bool(row["view"]) and not (view or everything),
                "manage": bool(row["manage"]) and not (manage or everything),
            }
            if any(flags.values()):
                await people_q.update_right(
                    tx.conn, row["id"], flags | {"updated_at": tx.now, "updated_by": self.user}
                )
            else:
                await people_q.delete_right(tx.conn, row["id"])
            await self._audit(
                tx, "right.revoke", process, kind=kind, subject=subject,
                launch=launch or everything, view=view or everything, manage=manage or everything,
            )  # fmt: skip
            tx.emit(PEOPLE_CHANGED, process)
            left = await people_q.get_right(tx.conn, process, kind, subject)
        return right_view(left) if left else None

    @rule(admin("list rights"))
    async def rights(self, process: str | None = None) -> list[RightView]:
        """Every right, or those that apply to one process (its own and those on "*")."""
        async with self.store.read() as conn:
            return [right_view(r) for r in await people_q.list_rights(conn, process)]

    # ---------------------------------------------------- security specs
    async def _spec_row(
        self, tx: Tx, name: str, users: Any, groups: Any, roles: Any
    ) -> dict[str, Any]:
        row = {
            "name": name,
            "users": _names(users, LOGIN, "users", "login"),
            "groups": _names(groups, GROUP, "groups", "group name"),
            "roles": _names(roles, ROLE, "roles", "role"),
        }
        known_users = await people_q.logins(tx.conn)
        known_groups = await people_q.group_names(tx.conn)
        for login in row["users"]:
            if login not in known_users:
                raise NotFound("users", f"unknown user '{login}'")
        for group in row["groups"]:
            if group not in known_groups:
                raise NotFound("groups", f"unknown group '{group}'")
        return row

    @rule(admin("add security specs"))
    async def add_secspec(
        self,
        name: str,
        users: list[str] | tuple[str, ...] = (),
        groups: list[str] | tuple[str, ...] = (),
        roles: list[str] | tuple[str, ...] = (),
    ) -> SecSpecView:
        """A named list of users, groups and roles; variables tied to it (``security:``)
        are masked for everyone else."""
        _check(GROUP, name, "name", "security spec name")
        async with self.tx() as tx:
            if await people_q.get_secspec(tx.conn, name):
                raise Conflict("name", f"security spec '{name}' exists already")
            row = await self._spec_row(tx, name, users, groups, roles)
            await people_q.insert_secspec(tx.conn, row | {"updated_at": tx.now})
            await self._audit(tx, "secspec.add", name, **row)
            tx.emit(PEOPLE_CHANGED, name)
        return secspec_view(row)

    @rule(admin("change security specs"))
    async def set_secspec(
        self,
        name: str,
        users: list[str] | tuple[str, ...] = (),
        groups: list[str] | tuple[str, ...] = (),
        roles: list[str] | tuple[str, ...] = (),
    ) -> SecSpecView:
        """Replace the lists of an existing security spec."""
        if not GROUP.match(name or ""):  # cannot exist (and would overflow the column)
            raise NotFound("name", f"unknown security spec {name[:100]!r}")
        async with self.tx() as tx:
            row = await self._spec_row(tx, name, users, groups, roles)
            if not await people_q.update_secspec(tx.conn, name, row | {"updated_at": tx.now}):
                raise NotFound("name", f"unknown security spec '{name}'")
            await self._audit(tx, "secspec.set", name, **row)
            tx.emit(PEOPLE_CHANGED, name)
        return secspec_view(row)

    @rule(admin("remove security specs"))
    async def remove_secspec(self, name: str) -> None:
        """Variables still tied to a removed spec are masked for everyone."""
        async with self.tx() as tx:
            if not await people_q.delete_secspec(tx.conn, name):
                raise NotFound("name", f"unknown security spec '{name}'")
            await self._audit(tx, "secspec.remove", name)
            tx.emit(PEOPLE_CHANGED, name)

    @rule(anyone)
    async def secspecs(self) -> list[SecSpecView]:
        async with self.store.read() as conn:
            return [secspec_view(r) for r in await people_q.list_secspecs(conn)]

    # -------------------------------------------------------------- audit
    @rule(admin("read the audit log"))
    async def audit(self, *, limit: int = 100, before_id: int | None = None) -> list[AuditView]:
        """The audit log, newest first: impersonation, refusals, people and rights changes."""
        if limit < 1 or limit > 10_000:
            raise SwitchyardError("limit", f"must be between 1 and 10000, got {limit}")
        async with self.store.read() as conn:
            rows = await people_q.list_audit(conn, limit=limit, before_id=before_id)
        return [audit_view(r) for r in rows]

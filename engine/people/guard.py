"""Who is asking, and the checks every operation uses: identity (the OS login, or whom an
admin acts as with ``--as``), the first-start admin, refusals written to the audit log,
rights on a process, the filter of visible instances, and the masker of an instance.
Mixed into ``Engine`` through ``PeopleApi``; the rules themselves are in rules.py.

Rights and licences are read from the store on every operation (and a stream, e.g.
``follow_log``, checks its rule again before each batch), so a change made by an admin
applies at once to every console and node. The one exception keeps that promise
another way: an operation declared ``@rule(..., revalidates=True)`` (the monitor, a single
start: engine/process/start_plan.py) may start on the identity cached by
``_load_identity`` and checks, in its own statement, that the store's change token has
not moved since (else it runs again on a fresh one)."""

from __future__ import annotations

from typing import Any, NoReturn

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import Refused
from switchyard.engine.kernel import eventlog, events
from switchyard.engine.kernel.ports import EngineParts
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.people.identity import Access, Identity, identity_from
from switchyard.engine.people.masking import Masker
from switchyard.engine.people.os_identity import OsIdentity
from switchyard.engine.people.rules import CURRENT, anyone, rule
from switchyard.store.models import ALL_PROCESSES
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q

PEOPLE_CHANGED = events.PEOPLE_CHANGED  # users, groups, rights or security specs changed


class Guard(EngineParts):
    # provided by Engine (with EngineParts' store, clock, bus, node_id, data_dir, tx())
    user: str  # whom the engine acts as
    login: str  # the person behind it (the OS login, or whom sudo / ssh names)
    person: OsIdentity  # the person and how they came (os_identity.py)
    _identity_checked: bool
    _identity_snapshot: tuple[object, Identity] | None  # (change token, identity): _load_identity

    # ---------------------------------------------------------- identity
    @property
    def impersonating(self) -> bool:
        return self.user != self.login

    def _via(self) -> dict[str, str]:
        """For the audit and event logs: how a person came through the store owner's
        account (``via``: sudo or ssh, ``os_login``: that account); nothing when local."""
        if not self.person.delegated:
            return {}
        return {"via": self.person.via.value, "os_login": self.person.os_login}

    async def _audit(self, tx: Tx, action: str, target: str | None, **detail: Any) -> None:
        detail.update(self._via())
        await people_q.add_audit(
            tx.conn,
            at=tx.now,
            login=self.login,
            as_login=self.user if self.impersonating else None,
            action=action,
            target=target,
            detail=detail,
        )

    async def _refuse(
        self, needs: str, message: str, *, operation: str, target: str | None = None
    ) -> NoReturn:
        """Record the refusal in the audit log and the event log (one commit of its own),
        then raise it."""
        async with self.tx() as tx:
            await self._audit(tx, "refused", target, operation=operation, needs=needs, why=message)
            extra: dict[str, Any] = {"real_login": self.login} if self.impersonating else {}
            extra.update(self._via())
            await eventlog.record(
                tx,
                eventlog.REFUSED,
                message,
                login=self.user,
                operation=operation,
                needs=needs,
                target=target,
                **extra,
            )
        raise Refused(needs, message)

    async def _unknown(self, login: str, operation: str) -> NoReturn:
        await self._refuse(
            "user",
            f"not a Switchyard user: {login} (an admin can add you: switchyard user add {login})",
            operation=operation,
            target=login,
        )

    async def _check_identity(self) -> None:
        """Once per engine: the OS login is a user; acting as another needs the admin right
        (and is recorded in the audit log)."""
        async with self.store.read() as conn:
            real = await people_q.get_user(conn, self.login)
            target = await people_q.get_user(conn, self.user) if self.impersonating else real
        if real is None:
            await self._unknown(self.login, "open")
        if self.impersonating:
            if not real["admin"]:
                await self._refuse(
                    "admin",
                    f"{self.login} may not act as {self.user} (--as): needs the admin right",
                    operation="impersonate",
                    target=self.user,
                )
            if target is None:
                await self._unknown(self.user, "impersonate")
            async with self.tx() as tx:
                await self._audit(tx, "impersonate", self.user)
        self._identity_checked = True

    async def _first_start(self, tx: Tx) -> None:
        """A store without users: the login opening it becomes an admin and a designer.
        Through sudo or ssh, the store owner's account (which runs ``serve``) does too."""
        if await people_q.make_first_admin(tx.conn, self.login, tx.now):
            await self._audit(tx, "first-start", self.login, licence="designer", admin=True)
            tx.emit(PEOPLE_CHANGED, self.login)
            owner = self.person.os_login
            if self.person.delegated and owner != self.login:
                await people_q.insert_user(
                    tx.conn,
                    {"login": owner, "licence": "designer", "admin": True, "roles": []}
                    | {"created_at": tx.now},
                )
                await self._audit(tx, "first-start", owner, licence="designer", admin=True)
                tx.emit(PEOPLE_CHANGED, owner)

    async def _load_identity(self) -> Identity:
        if not self._identity_checked:
            await self._check_identity()
        async with self.store.read() as conn:  # one statement, with the change token
            row, groups, token = await people_q.user_groups_and_changes(conn, self.user)
        if row is None:  # removed since this engine opened
            self._identity_snapshot = None
            await self._unknown(self.user, "identity")
        via = self._via()
        me = identity_from(
            row,
            groups,
            self.login if self.impersonating else None,
            via=via.get("via"),
            os_login=via.get("os_login"),
        )
        self._identity_snapshot = (token, me)
        return me

    def _cached_identity(self) -> tuple[object, Identity] | None:
        """The identity last read and the change token read with it (no query). Only an
        operation that checks the token again in its own statement may act on it
        (``@rule(..., revalidates=True)``; the monitor): it raises ``StaleIdentity`` when
        the token moved, and the operation runs again with the identity read afresh."""
        return self.__dict__.get("_identity_snapshot")

    async def _me(self) -> Identity:
        current = CURRENT.get()
        if current is not None and current[0] == id(self):
            return current[1]
        return await self._load_identity()

    @rule(anyone)
    async def identity(self) -> Identity:
        """Who this engine acts as: login, name, licence, admin, groups, roles."""
        return await self._me()

    async def _access(self, me: Identity, name: str) -> Access:
        """Rights of ``me`` on a process (or command schedule) ``name``, "*" included.

        Kept for that very ``me`` object (one identity read): an operation that read the
        identity afresh gets a new object, so reads the rights afresh too; only an
        operation on the cached identity (``revalidates=True``, which checks the change
        token in its own statement) finds them again (``_held_access``). They were read
        after the identity, so they are never older than the token it was read with."""
        if me.admin:
            return Access.everything()
        held = self._held_access(me, name)
        if held is not None:
            return held
        async with self.store.read() as conn:
            rows = await people_q.rights_of(conn, me.login, me.groups, [name, ALL_PROCESSES])
        access = Access.from_rows(rows)
        kept: tuple[Identity, dict[str, Access]] | None = self.__dict__.get("_access_kept")
        if kept is None or kept[0] is not me:
            kept = self.__dict__["_access_kept"] = (me, {})
        kept[1][name] = access
        return access

    def _held_access(self, me: Identity, name: str) -> Access | None:
        """The rights ``_access`` read for this ``me`` object on ``name``, if any (no query)."""
        kept = self.__dict__.get("_access_kept")
        if kept is None or kept[0] is not me:
            return None
        found: Access | None = kept[1].get(name)
        return found

    async def _visible(self, conn: AsyncConnection | None = None) -> ColumnElement[bool] | None:
        """The instances the caller may see, as a WHERE clause (None: all of them). Pass the
        read connection in use, if any (no second connection from the pool)."""
        return (await self._visibility(conn))[0]

    async def _visibility(
        self, conn: AsyncConnection | None = None
    ) -> tuple[ColumnElement[bool] | None, frozenset[str] | None]:
        """``_visible``'s clause, and the processes whose every instance the caller may see
        (None: every process: an admin, or a right on "*")."""
        me = await self._me()
        if me.admin:
            return None, None
        if conn is not None:
            rows = await people_q.all_rights_of(conn, me.login, me.groups)
        else:
            async with self.store.read() as own:
                rows = await people_q.all_rights_of(own, me.login, me.groups)
        names = sorted({r["process"] for r in rows if r["view"] or r["manage"]})
        everything = ALL_PROCESSES in names
        clause = people_q.visible_instances(
            me.login,
            all_processes=everything,
            processes=names,
            schedules=names,
            command_runs=everything or me.has_licence("monitor"),
        )
        return clause, None if everything else frozenset(names)

    async def _masker(self, row: dict[str, Any]) -> Masker:
        """What the caller may not see of an instance's variables."""
        if row.get("definition_id") is None:
            return Masker()
        async with self.store.read() as conn:
            definition = await proc_q.get_by_id(conn, int(row["definition_id"]))
            doc = (definition or {}).get("doc") or {}
            wanted = {s.get("security") for s in (doc.get("variables") or {}).values()}
            specs = await people_q.get_secspecs(conn, sorted(n for n in wanted if n))
        return Masker.build(await self._me(), doc, specs, dict(row.get("variables") or {}))

    async def _maskers(
        self, rows: list[dict[str, Any]], conn: AsyncConnection | None = None
    ) -> list[Masker]:
        """One masker per instance row (secured values out of reason, outcome, command),
        reading each definition and the specs it names once."""
        if not any(r.get("definition_id") is not None for r in rows):
            return [Masker() for _ in rows]
        if conn is None:
            async with self.store.read() as own:
                return await self._maskers(rows, own)
        docs: dict[int, dict[str, Any]] = {}
        for key in {int(r["definition_id"]) for r in rows if r.get("definition_id") is not None}:
            docs[key] = ((await proc_q.get_by_id(conn, key)) or {}).get("doc") or {}
        wanted = {
            s.get("security") for d in docs.values() for s in (d.get("variables") or {}).values()
        }
        specs = await people_q.get_secspecs(conn, sorted(n for n in wanted if n))
        me = await self._me()
        return [
            Masker()
            if r.get("definition_id") is None
            else Masker.build(
                me, docs[int(r["definition_id"])], specs, dict(r.get("variables") or {})
            )
            for r in rows
        ]

    async def _mask_lines(self, instance_id: int, lines: list[str]) -> list[str]:
        """Log lines as the caller may see them (secured variables' values masked)."""
        if not lines:
            return lines
        async with self.store.read() as conn:
            row = await inst_q.get(conn, instance_id)
        return (await self._masker(row)).lines(lines) if row else lines

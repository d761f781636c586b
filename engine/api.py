"""The one door into Switchyard for the console and the command line.

Commands write through one transaction each (with their events); queries read pages
from the store. Screens call these methods and listen to ``Engine.bus``; nothing
above the engine touches the database.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path

from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.boundary import store_boundary
from switchyard.engine.kernel.clock import Clock, SystemClock
from switchyard.engine.kernel.nodes import new_node_id
from switchyard.engine.kernel.tx import Tx, transaction
from switchyard.engine.monitor.api import MonitorApi
from switchyard.engine.node.api import NodesApi
from switchyard.engine.node.timers import TimersApi
from switchyard.engine.ops.api import OperationsApi
from switchyard.engine.ops.exchange import ExchangeApi
from switchyard.engine.ops.migration import MigrationApi
from switchyard.engine.ops.secrets import SecretBox
from switchyard.engine.ops.secrets_api import SecretsApi
from switchyard.engine.people import os_identity
from switchyard.engine.people.api import PeopleApi
from switchyard.engine.people.os_identity import OsIdentity
from switchyard.engine.people.rules import (
    guarded,
    unchecked,
)
from switchyard.engine.process.api import ProcessApi
from switchyard.engine.reads import checked_store
from switchyard.engine.runs.api import DEFAULT_LANE, RunsApi
from switchyard.engine.runs.cancelling import CancelApi
from switchyard.engine.schedules.api import SchedulesApi
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.engine.workitems.api import WorkItemApi
from switchyard.store.db import Store
from switchyard.store.queries import lanes as lane_q


@store_boundary  # store failures leave as engine errors: engine/kernel/boundary.py
@guarded  # every public operation is checked: engine/people/rules.py
class Engine(
    PeopleApi,
    ProcessApi,
    WorkItemApi,
    MonitorApi,
    CancelApi,
    OperationsApi,
    TimersApi,
    RunsApi,
    SchedulesApi,
    SecretsApi,
    NodesApi,
    MigrationApi,
    ExchangeApi,
):
    def __init__(
        self,
        store: Store,
        *,
        data_dir: Path,
        clock: Clock | None = None,
        user: str | None = None,
        as_user: str | None = None,
        person: OsIdentity | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.clock: Clock = clock or SystemClock()
        self.bus = ev.EventBus()
        self.node_id = new_node_id()
        # who is asking: the real uid's login, or the person sudo / the SSH forced command
        # names for the store's owner (engine/people/os_identity.py); never the environment
        if person is None:
            login = user or os_identity.os_login()
            person = OsIdentity(login, login)
        self.person = person
        self.login = person.login
        self.user = as_user or self.login  # whom this engine acts as (--as: admins only)
        self._identity_checked = False
        self.secret_box = SecretBox.for_data_dir(data_dir)
        self.feed: ev.EventFeed | None = None

    @classmethod
    @unchecked("makes the engine; checks the identity itself (first start, unknown login, --as)")
    async def open(
        cls,
        url: str | None = None,
        *,
        data_dir: Path | None = None,
        clock: Clock | None = None,
        user: str | None = None,
        as_user: str | None = None,
        create: bool = True,
        allow_shared_mode: bool = False,
        ssh_user: str | None = None,
    ) -> Engine:
        """Open the store as ``user`` (default: whom the OS says is asking, see
        os_identity.resolve), acting as ``as_user`` if given (admins only). On a store
        without users, the login becomes its first admin.

        ``create``: make the store when there is none (else NoStore, nothing written).
        A store, its folder, the data dir or the secret key that group or others may read
        or write, or that another uid owns (root included), is refused (SharedModeError)
        unless ``allow_shared_mode``."""
        store, data, person = checked_store(
            url,
            data_dir,
            create=create,
            allow_shared_mode=allow_shared_mode,
            ssh_user=ssh_user,
            find_person=user is None,
        )
        try:
            await store.open(create=create)
        except BaseException:
            await store.close()
            raise
        engine = cls(store, data_dir=data, clock=clock, user=user, as_user=as_user, person=person)
        try:
            async with engine.tx() as tx:
                await lane_q.ensure(tx.conn, DEFAULT_LANE, tx.now)
                await engine._first_start(tx)
            await engine._check_identity()
        except BaseException:
            await store.close()
            raise
        return engine

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        """One write transaction; events emitted on it are published after the commit."""
        return transaction(self.store, self.bus, self.node_id, self.clock.now())

    @unchecked("this engine's own change feed")
    async def start_feed(self, interval: float = 0.25) -> None:
        if self.feed is None:
            self.feed = ev.EventFeed(self.store, self.bus, self.node_id, interval)
            await self.feed.start()

    @unchecked("closes this engine's own connections")
    async def close(self) -> None:
        if self.feed:
            await self.feed.stop()
            self.feed = None
        await self.store.close()


__all__ = ["Engine", "ScheduleSpec", "SwitchyardError", "timedelta"]

"""Moving a SQLite store to PostgreSQL, as the facade offers it (mixed into ``Engine``):
``migrate_to`` copies this engine's store into an empty PostgreSQL database
(store/transfer.py does the copying, verifying and quarantining).

It is an admin operation on the SOURCE store (its users decide who may copy it out), and
it refuses while any node (``serve`` or a console session) is alive on the source: a node
writing during the copy would leave the two stores apart. The secret key is not copied:
ciphertexts move as they are and the PostgreSQL nodes need the same key file
(``key_file`` in the report; README "Moving to PostgreSQL")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel.nodes import is_alive
from switchyard.engine.kernel.ports import EngineParts
from switchyard.engine.ops.secrets import SecretBox
from switchyard.engine.people.rules import admin, rule
from switchyard.store import transfer
from switchyard.store.db import SCHEMES, StoreError, check_url
from switchyard.store.queries import nodes as node_q
from switchyard.store.transfer import Observer, TransferReport

__all__ = ["MigrationApi", "MigrationRefused", "MigrationResult", "Observer", "TransferReport"]


class MigrationRefused(SwitchyardError):
    """The migration may not run now: a live node on the source, a target with data."""

    exit_code = 4


@dataclass(frozen=True)
class MigrationResult:
    report: TransferReport
    key_file: Path  # the secret key the PostgreSQL nodes need
    data_dir: Path


def check_target(url: str) -> None:
    """``--to`` must name a PostgreSQL database (exit 2, field ``to``)."""
    try:
        check_url(url)
    except StoreError as exc:  # the same words, for the field ``to``
        raise SwitchyardError("to", str(exc).removeprefix("db: ")) from None
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES or not scheme.startswith("postgres"):
        raise SwitchyardError(
            "to", "give a PostgreSQL URL (postgresql://USER@HOST/DB) to migrate to"
        )


class MigrationApi(EngineParts):  # store, clock and data_dir provided by Engine
    secret_box: SecretBox  # Engine's (ops/secrets.py)

    @rule(admin("migrate the store"))
    async def migrate_to(self, target: str, observer: Observer | None = None) -> MigrationResult:
        """Copy this SQLite store into the empty PostgreSQL database ``target``, verify it
        and report (rerun after an interruption: done tables are kept, the rest redone)."""
        check_target(target)
        if not self.store.is_sqlite:
            raise SwitchyardError(
                "from",
                f"{self.store.where} is not a SQLite store; migrate copies SQLite to PostgreSQL",
            )
        now = self.clock.now()
        async with self.store.read() as conn:
            rows = await node_q.running(conn)
        live = [r for r in rows if is_alive(r, now)]
        if live:
            names = ", ".join(
                f"{r['id']} ({r['mode']}, pid {r['pid']} on {r['host']})" for r in live
            )
            raise MigrationRefused(
                "from",
                f"{len(live)} node(s) running on {self.store.where}: {names}; stop them first",
            )
        try:
            report = await transfer.transfer(self.store, target, observer)
        except transfer.TransferRefused as exc:
            raise MigrationRefused(exc.field, exc.message) from None
        return MigrationResult(report, self.secret_box.key_file, self.data_dir)

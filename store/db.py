"""Open the store: an embedded SQLite file (WAL) or a PostgreSQL server, migrated on start.

SQLite has one writer at a time. Writes go through ``Store.write()``, whose transactions
start with ``BEGIN IMMEDIATE`` on a single pooled connection, so a write never fails half
way with "database is locked" on a lock upgrade; other processes wait on ``busy_timeout``.
Reads use a separate small pool and never block on the writer (WAL).
On PostgreSQL both doors are the same engine; claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, inspect, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from switchyard.store import filemodes, migrate

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
# The WAL is copied back into the database file (a checkpoint, run by the committing
# connection inside its COMMIT, with the only fsyncs of synchronous=NORMAL) when it passes
# this many pages; SQLite's default is 1,000 (4 MB). With 5,000 (20 MB) a busy writer
# checkpoints a fifth as often and copies each hot page (the instances table, its
# indexes) once per checkpoint instead of five times: bench/engine.py 1.02-1.10x in 9 of 9
# paired runs (bench/README.md, round 6). Durability is unchanged: a commit is durable
# when its WAL frames are written, whatever the checkpoint schedule; the WAL file grows to
# ~20 MB instead of ~4 MB.
WAL_AUTOCHECKPOINT_PAGES = 5_000
MIGRATE_LOCK = 0x5357_4D49  # pg advisory lock key held while migrating ("SWMI")
CONNECT_TIMEOUT_S = 10.0  # a PostgreSQL host that does not answer: give up after this long
MAX_URL_LENGTH = 4096
SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg", "postgres")
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 5


class NoDriverThread(RuntimeError):
    """This aiosqlite has no way to run a function on its connection's thread: callers
    take their ordinary SQLAlchemy path instead (slower, same rows)."""


async def on_driver_thread(conn: AsyncConnection, fn: Callable[[Any], T]) -> T:
    """SQLite: ``fn(sqlite3_connection)`` run on aiosqlite's thread for ``conn``, in ONE
    hand-off (each SQLAlchemy statement costs several). The only place that reaches into
    aiosqlite: every call it makes goes through its ``Connection._execute(fn, *args)`` on
    ``_conn`` (aiosqlite 0.20-0.22), and there is no public name for "run this function
    on the connection's thread". Raises NoDriverThread, before running anything, when
    those are missing (tests/store/test_driver_thread.py fails then, so an upgrade is
    noticed; the callers fall back meanwhile)."""
    driver = (await conn.get_raw_connection()).driver_connection
    execute = getattr(driver, "_execute", None)
    raw = getattr(driver, "_conn", None)
    if execute is None or raw is None:
        raise NoDriverThread(f"{type(driver).__name__} has no _execute/_conn")
    result: T = await execute(fn, raw)
    return result


class StoreError(Exception):
    """The store cannot be opened or used; the message says why and what to do.

    ``exit_code`` is what the command line exits with: 2 for a bad ``--db`` (an unknown
    scheme, a file that is not a Switchyard store), 5 when the store is out of reach."""

    exit_code = EXIT_BAD_INPUT


class NotAStore(StoreError):
    """``--db`` names something that is not a Switchyard store (``/etc/passwd``, another
    program's database): refused, nothing written."""


class StoreUnreachable(StoreError):
    """The store exists (or may) but cannot be reached: a host that does not answer, a
    refused login, a file without permission."""

    exit_code = EXIT_UNREACHABLE


class NoStore(StoreError):
    """There is no store at the URL and the command may not create one (exit 3)."""

    exit_code = 3


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "switchyard"


def default_url(data_dir: Path | None = None) -> str:
    data_dir = data_dir or default_data_dir()
    return f"sqlite+aiosqlite:///{data_dir / 'switchyard.db'}"


def connect_timeout() -> float:
    """Seconds to wait for a PostgreSQL server: ``SWITCHYARD_CONNECT_TIMEOUT`` or 10."""
    try:
        value = float(os.environ.get("SWITCHYARD_CONNECT_TIMEOUT") or CONNECT_TIMEOUT_S)
    except ValueError:
        return CONNECT_TIMEOUT_S
    return value if 0 < value <= 3600 else CONNECT_TIMEOUT_S


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def check_url(url: str) -> None:
    """Refuse a ``--db`` value that cannot name a store: empty, too long, control
    characters, or a scheme other than SQLite or PostgreSQL (exit 2, field ``db``)."""
    if not url.strip():
        raise StoreError("db: empty; give a SQLite path or a postgresql:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise StoreError(f"db: too long ({len(url)} characters, at most {MAX_URL_LENGTH})")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise StoreError(f"db: {_short(url)!r} contains a control character")
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            raise StoreError(
                f"db: unsupported database '{_short(scheme.split('+')[0], 40)}'; use sqlite "
                "(sqlite:///PATH, sqlite+aiosqlite:///PATH or a bare path) or postgresql "
                "(postgresql://USER@HOST/DB, postgresql+asyncpg://...)"
            )


def normalise_url(url: str) -> str:
    """Accept the short forms people type and turn them into async driver URLs."""
    check_url(url)
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if "://" not in url:  # a bare path to a SQLite file
        return f"sqlite+aiosqlite:///{Path(url).expanduser().resolve()}"
    return url


class Store:
    """The database connection pair (writer, readers) and its backend facts."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            self.url: URL = make_url(normalise_url(url))
        except (ValueError, sa_exc.ArgumentError) as exc:
            raise StoreError(f"db: {_short(url)!r} is not a database URL: {exc}") from None
        self.backend = self.url.get_backend_name()
        if self.backend not in ("sqlite", "postgresql"):
            raise StoreError(f"db: unsupported database '{self.backend}'; use sqlite or postgresql")
        self.is_sqlite = self.backend == "sqlite"
        if self.is_sqlite:
            self._writer = self._sqlite_engine(immediate=True, pool_size=1, echo=echo)
            self._reader = self._sqlite_engine(immediate=False, pool_size=4, echo=echo)
        else:
            self._writer = create_async_engine(
                self.url,
                echo=echo,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args={"timeout": connect_timeout()},
            )
            self._reader = self._writer

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.url.database) if self.is_sqlite and self.url.database else None

    def sqlite_files(self) -> list[Path]:
        """The SQLite file and its -wal and -shm companions (those that exist)."""
        if self.sqlite_path is None or str(self.sqlite_path) == ":memory:":
            return []
        base = self.sqlite_path
        candidates = [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]
        return [p for p in candidates if p.exists()]

    def _sqlite_engine(self, *, immediate: bool, pool_size: int, echo: bool) -> AsyncEngine:
        engine = create_async_engine(
            self.url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            # Several processes creating the file at once race to switch it to WAL; the
            # losers get "database is locked" (or deadlock in the busy handler). WAL is a
            # property of the file: the winner's switch holds for every connection.
            cur.execute("PRAGMA busy_timeout=200")
            try:
                cur.execute("PRAGMA journal_mode=WAL")
            except Exception as exc:
                if "locked" not in str(exc):
                    raise
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

        return engine

    async def open(self, *, create: bool = True) -> Store:
        """Migrate the schema (creating the store first when ``create``; else a missing store
        is NoStore and nothing is written); refuse a database newer than this code, and one
        that is not a Switchyard store (another program's tables, not a database at all).

        A SQLite store is created in a 0700 folder, its files 0600."""
        filemodes.private_umask()
        path = self.sqlite_path
        made = False
        if path is not None and str(path) != ":memory:":
            if path.exists() and not path.is_file():
                raise NotAStore(f"db: cannot open {_short(str(path))}: not a file")
            made = not path.exists()
            if not create and made:
                raise NoStore(f"db: no store at {_short(str(path))}")
            try:
                filemodes.private_dir(path.parent)
            except OSError as exc:
                raise StoreUnreachable(
                    f"db: cannot create the folder of {_short(str(path))}: {exc.strerror or exc}"
                ) from exc
        try:
            async with self._writer.begin() as conn:
                if not self.is_sqlite:  # nodes starting together on a fresh database: one migrates
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK}
                    )
                await conn.run_sync(self._refuse_foreign)
                if not create and not await conn.run_sync(migrate.has_schema):
                    raise NoStore(f"db: no store at {self.display_url}")
                await conn.run_sync(migrate.upgrade_to_head)
        except migrate.SchemaTooNew as exc:
            raise StoreError(str(exc)) from exc
        except StoreError:
            raise
        except Exception as exc:
            known = classify(exc, self.where, opening=True)
            if known is None:
                raise
            raise known from exc
        if made and path is not None:  # SQLite gives its -wal and -shm the file's mode
            filemodes.private_file(path)
        return self

    def _refuse_foreign(self, conn: Any) -> None:
        """Tables but no ``alembic_version``: another program's database, left alone."""
        names = set(inspect(conn).get_table_names())
        if names and "alembic_version" not in names:
            raise NotAStore(
                f"db: {self.where} is not a Switchyard store (it holds other "
                "tables); nothing was written"
            )

    @property
    def where(self) -> str:
        """What error messages name: the SQLite file, or the URL without its password."""
        return _short(str(self.sqlite_path)) if self.sqlite_path else self.display_url

    @property
    def display_url(self) -> str:
        return _short(self.url.render_as_string(hide_password=True))

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed when the block ends."""
        async with self._writer.begin() as conn:
            yield conn

    @property
    def dialect(self) -> Dialect:
        """The writer's SQL dialect (for statements compiled once, sent to the driver)."""
        return self._writer.dialect

    async def on_sqlite_writer(self, fn: Callable[[Any], T]) -> T:
        """SQLite: ``fn(sqlite3_connection)`` on the writer's connection, run in aiosqlite's
        thread in ONE hand-off (each SQLAlchemy statement costs several). ``fn`` owns the
        transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (the connection is in autocommit
        mode, see ``_sqlite_engine``), and ``ROLLBACK`` on any error before re-raising.
        The pool's one writer connection is held meanwhile, as by ``write()``."""
        assert self.is_sqlite
        async with self._writer.connect() as conn:
            return await on_driver_thread(conn, fn)

    @asynccontextmanager
    async def read(self, *, snapshot: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read connection; its statements run in one transaction (ended when the block
        ends). ``snapshot``: they all see the store as of the first one, on PostgreSQL too
        (REPEATABLE READ: the same one ``BEGIN``; a read-only transaction never fails to
        serialise). SQLite: always so (a read transaction in WAL mode is a snapshot)."""
        async with self._reader.connect() as conn:
            if snapshot and not self.is_sqlite:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> Callable[[], Any]:
        """PostgreSQL only: call ``on_notify`` on every NOTIFY on ``channel``.

        Returns an async closer. On SQLite there is nothing to listen to (one machine, one
        file): callers poll.
        """
        import asyncpg

        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=connect_timeout())
        await conn.add_listener(channel, lambda *_: on_notify())
        close: Callable[[], Any] = conn.close  # asyncpg ships no types
        return close

    async def close(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()


async def open_store(url: str | None = None, *, data_dir: Path | None = None) -> Store:
    store = Store(url or os.environ.get("SWITCHYARD_DB") or default_url(data_dir))
    return await store.open()


_NOT_A_DATABASE = ("file is not a database", "file is encrypted")


def _connection_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (
        OSError,  # refused, no route, unknown host (gaierror), permission denied
        TimeoutError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.InvalidAuthorizationSpecificationError,  # bad login or password
        asyncpg.InvalidCatalogNameError,  # no such database
        sa_exc.OperationalError,
        sa_exc.InterfaceError,
    )


def classify(exc: BaseException, where: str, *, opening: bool = False) -> StoreError | None:
    """A driver or network error as the StoreError it means, or None when it is not one.

    A file that is not a database is NotAStore (exit 2). A host that does not answer, a
    refused login, a missing permission, a locked or dropped connection is
    StoreUnreachable (exit 5). While opening, any database error counts as unreachable."""
    if isinstance(exc, StoreError):
        return exc
    detail = " ".join(str(getattr(exc, "orig", None) or exc or type(exc).__name__).split())
    if isinstance(exc, sa_exc.DatabaseError) and any(m in detail for m in _NOT_A_DATABASE):
        return NotAStore(f"db: {where} is not a Switchyard store ({_short(detail, 120)})")
    unreachable = isinstance(exc, _connection_errors()) or (
        isinstance(exc, sa_exc.DBAPIError) and (opening or exc.connection_invalidated)
    )
    if not unreachable:
        return None
    return StoreUnreachable(f"db: cannot open {where}: store unreachable: {_short(detail, 300)}")

"""The monitor at scale: first page of typical filters through the engine API vs the same
raw indexed SQL query, on a store of 1,000,000 process instances (SQLite).

Run: ``.venv/bin/python bench/monitor.py [--rows 1000000]``; ``--quick`` is 100,000 rows
(under 2 minutes on 2 cores). Nothing is cached between runs: each run fills a fresh store.
``--postgres``: the same on a throw-away PostgreSQL server the bench starts itself
(bench/pg.py), 200,000 instances by default (filled with COPY), the "direct" column
through a plain psycopg connection.

The store is made by the real engine (migrations), then filled fast with bulk inserts:
instances of 50 processes (90 % completed, 5 % error, 4 % waiting, 1 % running), each
with indexed variables ``amount`` (0..5000) and ``employee`` (10,000 names). Each filter
is run through ``Engine.monitor`` (an admin, so no rights filter, except the last row: a
user with the monitor licence and a view right; the page, the cap count when the page is
full, masking of results) and as one hand-written SQL query on
the same indexes through the same store connection pool (the "raw" column; the same
query on a plain sqlite3 connection is shown too); each timed as the median of 21 runs
after a warm-up, the three in turn round after round (a load spike hits them alike).

Deep pages: a filter matching 60,000 instances (completed, updated since a moment; the cap
raised to 100,000 for it), its page 500 vs its first page through the engine, both paying
the cap check. Page 500 is read by the cursor of page 499's last row (keyset paging,
``Engine.monitor(after=...)``) when the engine has it, else by offset.

Goals: the engine's first page <= 2x the raw query and under 50 ms, variable conditions
included; page 500 <= 2x the first page. It prints numbers and ratios; it asserts nothing.
The last line is one JSON object: ``{"worst_ratio_to_raw", "deep_page_ratio", "rows", ...}``. The console's keypress-to-
repaint with 1,000 live rows is measured by bench/monitor_screen.py (if present).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import random
import resource
import sqlite3
import statistics
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pg import store_url
from switchyard.engine.api import Engine
from switchyard.engine.monitor.filters import MonitorFilter

PROCESSES = 50
RUNS = 21  # timed rounds per measurement (median)
EMPLOYEES = 10_000
DEFINITION = """
process: {name}
variables:
  employee: {{type: string}}
  amount: {{type: decimal}}
start: s
states:
  s:
    actions:
      - wait: {{for: 1h}}
"""

RAW = {
    "process + status": (
        "SELECT * FROM instances WHERE definition_id IS NOT NULL AND process = ? AND status = ?"
        " ORDER BY updated_at DESC, id DESC LIMIT 100",
        ("p07", "error"),
    ),
    "process + status + amount > 4000": (
        "SELECT * FROM instances i WHERE i.definition_id IS NOT NULL AND i.process = ?"
        " AND i.status = ? AND EXISTS (SELECT 1 FROM instance_vars v WHERE"
        " v.name = 'amount' AND v.num > 4000 AND v.instance_id = i.id)"
        " ORDER BY i.updated_at DESC, i.id DESC LIMIT 100",
        ("p07", "error"),
    ),
    'employee = "e00123"': (
        "SELECT * FROM instances i WHERE i.definition_id IS NOT NULL AND i.id IN (SELECT"
        " instance_id FROM instance_vars WHERE name = 'employee' AND text = ?)"
        " ORDER BY i.updated_at DESC, i.id DESC LIMIT 100",
        ("e00123",),
    ),
    "process + waiting": (
        "SELECT * FROM instances WHERE definition_id IS NOT NULL AND process = ? AND status = ?"
        " ORDER BY updated_at DESC, id DESC LIMIT 100",
        ("p07", "waiting"),
    ),
    "process + status (user, view right)": (
        "SELECT * FROM instances WHERE definition_id IS NOT NULL AND process = ? AND status = ?"
        " AND (originator = ? OR process IN (?)) ORDER BY updated_at DESC, id DESC LIMIT 100",
        ("p07", "error", "mona", "p07"),
    ),
}
AS_USER = {"process + status (user, view right)"}  # through mona's engine (rights filter)
FILTERS = {
    "process + status": MonitorFilter(processes=["p07"], statuses=["error"]),
    "process + status + amount > 4000": MonitorFilter(
        processes=["p07"], statuses=["error"], variables=["amount > 4000"]
    ),
    'employee = "e00123"': MonitorFilter(variables=['employee = "e00123"']),
    "process + waiting": MonitorFilter(processes=["p07"], statuses=["waiting"]),
    "process + status (user, view right)": MonitorFilter(processes=["p07"], statuses=["error"]),
}


def status_for(n: int) -> str:
    r = n % 100
    return "completed" if r < 90 else "error" if r < 95 else "waiting" if r < 99 else "running"


def batches(rows: int, definitions: dict[str, int]) -> Iterator[tuple[list[Any], list[Any]]]:
    """The instances and their indexed variables, 50,000 instances at a time."""
    rng = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    names = sorted(definitions)
    batch = 50_000
    for start in range(0, rows, batch):
        inst, ivars = [], []
        for n in range(start + 1, min(rows, start + batch) + 1):
            process = names[n % PROCESSES]
            status = status_for(n // PROCESSES)
            amount = rng.randint(0, 5000)
            employee = f"e{rng.randrange(EMPLOYEES):05d}"
            at = (base + timedelta(seconds=n * 7)).strftime("%Y-%m-%d %H:%M:%S.%f")
            variables = json.dumps({"employee": employee, "amount": f"{amount}.00"})
            inst.append(
                (n, process, definitions[process], status, at, at, variables, "s",
                 "workitem:1" if status == "waiting" and n % 2 else "timer" if status == "waiting" else None)
            )  # fmt: skip
            ivars.append((n, "amount", float(amount), f"{amount}.00"))
            ivars.append((n, "employee", None, employee))
        yield inst, ivars


_INSTANCE_COLUMNS = (
    "id, process, definition_id, process_version, status, started_at, updated_at, variables,"
    " current_state, waiting_on, lane, origin, command, env, shell, overlap_limit,"
    " cancel_requested, visit, depth"
)


def fill(db: Path, rows: int, definitions: dict[str, int]) -> float:
    """Bulk-insert ``rows`` instances and their indexed variables; returns seconds."""
    started = time.perf_counter()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    for inst, ivars in batches(rows, definitions):
        con.executemany(
            f"INSERT INTO instances ({_INSTANCE_COLUMNS}) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?,"
            " 'default', 'manual', '[]', '{}', 0, 0, 0, 0, 0)",
            inst,
        )
        con.executemany(
            "INSERT INTO instance_vars (instance_id, name, num, text) VALUES (?, ?, ?, ?)", ivars
        )
        con.commit()
        del inst, ivars  # (not alive beside the next batch)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - started


def fill_postgres(dsn: str, rows: int, definitions: dict[str, int]) -> float:
    """``fill`` on PostgreSQL (COPY), then VACUUM ANALYZE; returns seconds."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as con:
        for inst, ivars in batches(rows, definitions):
            with con.cursor() as cur:
                with cur.copy(f"COPY instances ({_INSTANCE_COLUMNS}) FROM STDIN") as copy:
                    for n, process, did, status, at, _, variables, state, waiting in inst:
                        copy.write_row(
                            (n, process, did, 1, status, at, at, variables, state, waiting,
                             "default", "manual", "[]", "{}", False, 0, False, 0, 0)
                        )  # fmt: skip
                with cur.copy(
                    "COPY instance_vars (instance_id, name, num, text) FROM STDIN"
                ) as copy:
                    for var in ivars:
                        copy.write_row(var)
        con.execute("SELECT setval(pg_get_serial_sequence('instances', 'id'), %s)", (rows,))
        con.execute("VACUUM ANALYZE")  # as autovacuum would: index-only counts (visibility map)
    return time.perf_counter() - started


async def timed(fn: Callable[[], Awaitable[Any]], runs: int = RUNS) -> tuple[float, Any]:
    await fn()  # warm-up (statement caches, pages in memory)
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


async def timed_side_by_side(
    *fns: Callable[[], Awaitable[Any]], runs: int = RUNS
) -> list[tuple[float, Any]]:
    """Each of ``fns`` timed in turn, round after round (so a load spike from the other
    jobs on the machine hits them alike): medians in ms, and each one's last result."""
    results = [await fn() for fn in fns]  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            results[i] = await fn()
            times[i].append(time.perf_counter() - started)
    return [(statistics.median(t) * 1000, r) for t, r in zip(times, results, strict=True)]


DEEP_MATCHES = 60_000  # the deep-page filter's matches (completed, updated since a moment)
DEEP_PAGE = 500
PAGE = 100


def deep_filter(rows: int) -> MonitorFilter:
    """Completed instances updated since the moment that leaves ~DEEP_MATCHES of them."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    first = max(1, rows - round(DEEP_MATCHES / 0.9))
    return MonitorFilter(statuses=["completed"], updated_from=base + timedelta(seconds=first * 7))


async def deep_pages(engine: Engine, rows: int) -> dict[str, Any]:
    """Page DEEP_PAGE of a broad filter vs its first page (the cap raised to allow it)."""
    await engine.set_param("max_monitored_flows", 100_000)
    flt = deep_filter(rows)
    offset = (DEEP_PAGE - 1) * PAGE
    keyset = "after" in inspect.signature(engine.monitor).parameters
    if keyset:  # the cursor of page 499's last row, as a console paging down would hold
        before = await engine.monitor(flt, limit=PAGE, offset=offset - PAGE)
        cursor = before.rows[-1].cursor  # type: ignore[attr-defined]

        def deep_page() -> Awaitable[Any]:
            return engine.monitor(flt, limit=PAGE, after=cursor)  # type: ignore[call-arg]
    else:

        def deep_page() -> Awaitable[Any]:
            return engine.monitor(flt, limit=PAGE, offset=offset)

    (first_ms, first), (deep_ms, deep) = await timed_side_by_side(
        lambda: engine.monitor(flt, limit=PAGE), deep_page, runs=RUNS // 2
    )
    by_offset_ms, by_offset = await timed(lambda: engine.monitor(flt, limit=PAGE, offset=offset))
    same = [r.instance.id for r in deep.rows] == [r.instance.id for r in by_offset.rows]
    ratio = deep_ms / first_ms
    print(
        f"deep page {DEEP_PAGE} of {first.total:,} matches ({'cursor' if keyset else 'offset'}):"
        f" {deep_ms:.2f} ms vs first page {first_ms:.2f} ms: {ratio:.2f}x"
        f"  {'met' if ratio <= 2 else 'MISSED'}{'' if same else '  (pages differ!)'}"
        f"   (by offset: {by_offset_ms:.2f} ms)"
    )
    return {
        "deep_page_ratio": round(ratio, 2),
        "deep_page_ms": round(deep_ms, 2),
        "deep_first_page_ms": round(first_ms, 2),
        "deep_by_offset_ms": round(by_offset_ms, 2),
        "deep_matches": first.total,
        "deep_by": "cursor" if keyset else "offset",
    }


def dollars(sql: str) -> str:
    """``?`` placeholders as asyncpg's ``$1``, ``$2`` ..."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))


async def main(rows: int, quick: bool, postgres: bool) -> None:
    result: dict[str, Any] = {
        "rows": rows,
        "quick": quick,
        "store": "postgresql" if postgres else "sqlite",
    }
    with (
        tempfile.TemporaryDirectory(prefix="sy-monitor-") as tmp,
        store_url(postgres, Path(tmp)) as url,
    ):
        data = Path(tmp) / "data"
        engine = await Engine.open(url, data_dir=data)
        definitions = {}
        for i in range(PROCESSES):
            path = Path(tmp) / f"p{i:02d}.yaml"
            path.write_text(textwrap.dedent(DEFINITION.format(name=f"p{i:02d}")).lstrip())
        published = await engine.publish(sorted(Path(tmp).glob("p*.yaml")))
        async with engine.store.read() as conn:
            from switchyard.store.queries import processes as proc_q

            for p in published:
                row = await proc_q.latest(conn, p.name)
                assert row is not None
                definitions[p.name] = int(row["id"])
        await engine.close()
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        if postgres:
            seconds = fill_postgres(dsn, rows, definitions)
        else:
            seconds = fill(Path(tmp) / "store.db", rows, definitions)
        print(f"filled {rows:,} instances (+{2 * rows:,} indexed variables) in {seconds:.1f} s")
        result["fill_s"] = round(seconds, 1)

        engine = await Engine.open(url, data_dir=data)
        await engine.add_user("mona", licence="monitor")
        await engine.grant("p07", "mona", view=True)
        mona = await Engine.open(url, data_dir=data, user="mona")
        if postgres:
            import psycopg

            raw: Any = psycopg.connect(dsn, autocommit=True)
        else:
            raw = sqlite3.connect(Path(tmp) / "store.db")
        print(f"{'filter':38} {'matches':>8} {'engine ms':>10} {'raw ms':>8} {'ratio':>6}  goal")
        print("(matches: the first page's count; 'raw': the SQL through the same pool)")
        ratios: dict[str, float] = {}
        engine_ms: dict[str, float] = {}
        raw_ms_of: dict[str, float] = {}
        for label, flt in FILTERS.items():
            sql, args = RAW[label]
            pooled = dollars(sql) if postgres else sql
            plain = sql.replace("?", "%s") if postgres else sql

            async def raw_query(sql: str = pooled, args: tuple = args) -> list[Any]:
                async with engine.store.read() as conn:
                    return list((await conn.exec_driver_sql(sql, args)).all())

            async def direct(sql: str = plain, args: tuple = args) -> list[Any]:
                return list(raw.execute(sql, args).fetchall())

            (api_ms, page), (raw_ms, found), (direct_ms, _) = await timed_side_by_side(
                lambda flt=flt, e=(mona if label in AS_USER else engine): e.monitor(flt),
                raw_query,
                direct,
            )
            same = [r.instance.id for r in page.rows] == [r[0] for r in found]
            ratio = api_ms / raw_ms if raw_ms else float("inf")
            ratios[label], engine_ms[label], raw_ms_of[label] = (
                round(ratio, 2), round(api_ms, 2), round(raw_ms, 2)
            )  # fmt: skip
            met = "met" if ratio <= 2 and api_ms < 50 else "MISSED"
            note = "" if same else "  (pages differ!)"
            print(
                f"{label:38} {page.total:>8} {api_ms:>10.2f} {raw_ms:>8.2f} {ratio:>6.2f}"
                f"  {met}{note}   ({'psycopg' if postgres else 'sqlite3'} direct {direct_ms:.2f} ms)"
            )
        too_broad = MonitorFilter(processes=["p07"])
        started = time.perf_counter()
        try:
            await engine.monitor(too_broad)
        except Exception as exc:  # FilterTooBroad: the cap path counts every match
            print(f"over the cap: {exc} ({(time.perf_counter() - started) * 1000:.1f} ms)")
        result.update(await deep_pages(engine, rows))
        raw.close()
        await mona.close()
        await engine.close()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MB")
    worst = max(ratios, key=lambda k: ratios[k])
    result = {
        "worst_ratio_to_raw": ratios[worst],
        "deep_page_ratio": result.pop("deep_page_ratio"),
        **result,
        "worst_filter": worst,
        "ratios": ratios,
        "engine_ms": engine_ms,
        "raw_ms": raw_ms_of,
        "peak_rss_mb": round(rss),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=None, help="instances (default 1,000,000; 200,000 --postgres)"
    )
    parser.add_argument("--quick", action="store_true", help="100,000 instances (< 2 min)")
    parser.add_argument(
        "--postgres", action="store_true", help="on a throw-away PostgreSQL server (bench/pg.py)"
    )
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 200_000 if args.postgres else 1_000_000)
    asyncio.run(main(rows, args.quick, args.postgres))

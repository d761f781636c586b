"""`switchyard migrate`: a real SQLite store copied into a real PostgreSQL database (the
session's server, a fresh database per test), driven through the real command line.

The source is built with the engine's own API and the command line, with a real node
run, so instances are in real states; the migrated store is then run to completion by a
`switchyard serve` on PostgreSQL. Crash safety is checked with a real `kill -9` of the
migrating process mid-copy."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SWITCHYARD = Path(os.sys.executable).parent / "switchyard"  # type: ignore[attr-defined]


class Target:
    """A fresh, empty PostgreSQL database: its URLs and a way to read it directly."""

    def __init__(self, server: Any, name: str) -> None:
        self.server = server
        self.name = name
        self.url = f"postgresql://postgres@127.0.0.1:{server.port}/{name}"  # as people type it
        self.async_url = server.url(name)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.server.dsn(self.name), autocommit=True) as conn:
            cur = conn.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

    def tables(self) -> set[str]:
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


@pytest.fixture
def target(pg_server: Any) -> Iterator[Target]:
    name = f"switchyard_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user="postgres", host="127.0.0.1", port=pg_server.port, dbname=name, version=None
    ):
        yield Target(pg_server, name)


@pytest.fixture
def data_dir_src(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
async def src(harness_for: Any, tmp_path: Path, data_dir_src: Path) -> Any:
    """The SQLite source store, made by the engine (its first admin is this login)."""
    return await harness_for(f"sqlite+aiosqlite:///{tmp_path / 'switchyard.db'}", data_dir_src)


def migrate(src: Any, target: Target, *extra: str, expect: int | None = 0) -> Any:
    return src.cli("migrate", "--to", target.url, *extra, expect=expect)


def sqlite(src: Any, sql: str, *args: Any) -> None:
    path = src.db_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute(sql, args)


# ---------------------------------------------------------------- refusals
async def test_refuses_while_a_node_runs_on_the_source(src: Any, target: Target) -> None:
    serve = await src.serve()
    done = migrate(src, target, expect=4)
    assert done.stderr.startswith("error: from: 1 node(s) running on ")
    assert done.stderr.count("\n") == 1
    assert serve.node_id in done.stderr and "stop them first" in done.stderr
    assert target.tables() == set()  # nothing written
    serve.send(signal.SIGTERM)
    assert await serve.exited() == 0
    migrate(src, target)  # stopped: now it goes


async def test_refuses_a_target_holding_switchyard_data(src: Any, target: Target) -> None:
    src.cli("--db", target.url, "init")  # a store of its own: a user and the default lane
    before = target.query("SELECT login FROM users")
    done = migrate(src, target, expect=4)
    assert done.stderr.startswith("error: to: ")
    assert "already holds Switchyard data (1 lanes, " in done.stderr
    assert "1 users" in done.stderr and done.stderr.count("\n") == 1  # one line
    assert target.query("SELECT login FROM users") == before
    assert "migration_progress" not in target.tables()


async def test_refuses_a_foreign_database_and_a_bad_target(src: Any, target: Target) -> None:
    target.query("CREATE TABLE invoices (id int)")
    done = migrate(src, target, expect=4)
    assert "not empty and not a Switchyard store (tables: invoices)" in done.stderr
    assert target.tables() == {"invoices"}
    bad = src.cli("migrate", "--to", "sqlite:///elsewhere.db", expect=2)
    assert bad.stderr.startswith("error: to: give a PostgreSQL URL")
    missing = src.cli("migrate", "--to", target.url, "--from", "/nonexistent/x.db", expect=3)
    assert missing.stderr.startswith("error: ")


async def test_needs_the_admin_right(src: Any, target: Target) -> None:
    src.cli("user", "add", "dave")
    done = src.cli("--as", "dave", "migrate", "--to", target.url, expect=4)
    assert "migrate the store" in done.stderr
    assert target.tables() == set()


# -------------------------------------------------------------- quarantine
REVIEW = """
process: review
variables:
  amount: {type: decimal}
  verdict: {type: string}
start: ask
states:
  ask:
    actions:
      - send_work_item: {form: check, to: {workgroup: reviewers}}
      - end_process: reviewed
forms:
  check:
    fields: [amount, {name: note, type: text, required: true}]
    buttons:
      Accept: [assign: {verdict: "accepted: {{ note }}"}]
"""


async def publish(h: Any, name: str, text: str) -> None:
    path = h.tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    await h.engine.publish([path])


async def test_rows_that_cannot_be_carried_are_quarantined(
    src: Any, target: Target, harness_for: Any
) -> None:
    await src.engine.add_group("reviewers")
    await publish(src, "review", REVIEW)
    serve = await src.serve()
    gone, orphan, kept = [await src.engine.start_process("review") for _ in range(3)]
    for instance in (gone, orphan, kept):
        await src.wait_status(instance, "waiting")
    serve.send(signal.SIGTERM)
    assert await serve.exited() == 0
    # made inconsistent behind the engine's back: an instance deleted (its work item,
    # journal and history stay), another pointing at a definition version that is not there
    sqlite(src, "DELETE FROM instances WHERE id = ?", gone)
    sqlite(src, "UPDATE instances SET definition_id = 999 WHERE id = ?", orphan)
    # and values SQLite took but PostgreSQL refuses: too long for the column, a NUL
    sqlite(src, "UPDATE events SET kind = ? WHERE id = 1", "k" * 60)
    sqlite(src, "UPDATE event_log SET message = ? WHERE id = 1", "a\x00b")

    done = migrate(src, target)
    out = done.stdout
    assert "its definition version 999 is missing" in out
    assert f"its instance {gone} is gone" in out and f"its instance {orphan} is gone" in out
    assert "verified" in out and "MISMATCH" not in out
    bars = [line for line in done.stderr.splitlines() if line.startswith("work_items ")]
    assert bars and "3/3" in bars[-1] and "rows/s" in bars[-1]  # a progress bar per table
    assert "the target refused it: value too long for type character varying(50)" in out
    assert "the target refused it: invalid byte sequence" in out
    rows = target.query("SELECT table_name, row_key, reason FROM migration_quarantine")
    quarantined = {(t, k) for t, k, _ in rows}
    assert ("instances", str(orphan)) in quarantined
    items = target.query("SELECT instance_id FROM work_items")
    assert items == [(kept,)]  # the two others are in quarantine, with their rows as JSON
    assert {t for t, _ in quarantined} == {
        "instances",
        "work_items",
        "steps",
        "instance_history",
        "events",
        "event_log",
    }
    assert ("events", "1") in quarantined and ("event_log", "1") in quarantined
    assert target.query("SELECT id FROM instances") == [(kept,)]

    # a rerun of a finished migration copies nothing and verifies the same
    again = json.loads(migrate(src, target, "--json").stdout)
    assert again["copied"] == [] and again["ok"]
    assert {(q["table"], q["key"]) for q in again["quarantine"]} == quarantined

    # the rest runs: the kept instance completes on PostgreSQL
    pg = await harness_for(target.async_url, src.data_dir)
    await pg.serve()
    (item,) = [i.id for i in (await pg.engine.work_items("all")).rows]
    await pg.engine.claim_work_item(item)
    await pg.engine.complete_work_item(item, "Accept", {"note": "ok"})
    await pg.wait_status(kept, "completed")


# ------------------------------------------------------------- interrupted
def started(src: Any, target: Target, err: Path) -> subprocess.Popen[bytes]:
    with err.open("wb") as fh:
        return subprocess.Popen(
            [str(SWITCHYARD), "migrate", "--to", target.url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fh,
            env=src.env,
        )


def done_tables(target: Target) -> set[str]:
    if "migration_progress" not in target.tables():
        return set()
    rows = target.query("SELECT table_name FROM migration_progress WHERE done_at IS NOT NULL")
    return {r[0] for r in rows}


async def interrupt_mid_events(src: Any, target: Target, sig: int) -> tuple[int, str]:
    """Start a migration and send ``sig`` while it copies the (big) events table: after
    the table before it is done and before events is. Returns its exit code and stderr."""
    err = src.tmp_path / f"migrate-{sig}.err"
    proc = started(src, target, err)
    try:
        await src.until(
            lambda: "nodes" in done_tables(target) or proc.poll() is not None,
            within=60,
            interval=0.01,
            what="the copy to reach the events table",
        )
        assert proc.poll() is None, err.read_text()
        os.kill(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "events" not in done_tables(target)  # killed mid-table, as meant
    return proc.returncode, err.read_text()


async def test_interrupted_and_rerun_never_duplicates(src: Any, target: Target) -> None:
    src.cli("lane", "add", "batch", "--concurrency", "2")
    rows = 100_000  # a big table, so the copy is caught in the middle of it
    path = src.db_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO events (at, kind, entity_id, node_id, data) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    "2026-12-01 10:00:00.000000",
                    "instances_changed",
                    str(i),
                    "n1",
                    json.dumps({"i": i}),
                )
                for i in range(rows)
            ),
        )
    with sqlite3.connect(path) as conn:
        total = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    code, err = await interrupt_mid_events(src, target, signal.SIGINT)
    assert code == 130
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert target.query("SELECT count(*) FROM events") == [(0,)]  # rolled back

    code, _ = await interrupt_mid_events(src, target, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert target.query("SELECT count(*) FROM events") == [(0,)]

    rerun = json.loads(migrate(src, target, "--json").stdout)
    assert rerun["ok"]
    assert rerun["resumed"][:4] == ["lanes", "schedules", "secrets", "nodes"]
    assert "events" in rerun["copied"]
    events = next(t for t in rerun["tables"] if t["table"] == "events")
    assert events["source_rows"] == events["target_rows"] == total
    assert target.query("SELECT count(*), count(DISTINCT id) FROM events") == [(total, total)]
    # the sequence goes on after the copied ids
    assert target.query("SELECT nextval(pg_get_serial_sequence('events', 'id'))") == [(total + 1,)]


# ------------------------------------------------------------ a full store
QUICK = """
process: quick
variables:
  amount: {type: decimal}
start: go
states:
  go:
    actions:
      - log: "quick VERSION {{ amount }}"
      - end_process: done
"""
NAP = """
process: nap
start: sleep
states:
  sleep:
    actions:
      - wait: {for: 1h}
      - end_process: woke
"""
TOKENED = """
process: tokened
start: go
states:
  go:
    actions:
      - run: {command: [sh, -c, 'printf %s "$TOKEN" > "$OUT"'], env: {TOKEN: "{{ secret.token }}", OUT: "OUTFILE"}}
      - end_process: done
"""
BROKEN = """
process: broken
start: go
states:
  go:
    actions:
      - run: {command: [sh, -c, "exit 3"]}
      - end_process: never
"""
LONG = """
process: longrun
start: go
states:
  go:
    actions:
      - run: {command: [sh, -c, 'test -f "$MARK" || sleep 120'], env: {MARK: "MARKER"}}
      - end_process: done
"""
ALL_TABLES = {
    "lanes", "schedules", "secrets", "nodes", "events", "params", "process_definitions",
    "users", "groups", "group_members", "rights", "secspecs", "audit_log", "saved_filters",
    "event_log", "instances", "steps", "instance_history", "work_items", "instance_vars",
    "log_chunks",
}  # fmt: skip


async def test_a_full_store_moves_and_runs_to_completion_on_postgresql(
    src: Any, target: Target, harness_for: Any
) -> None:
    from switchyard.engine.api import ScheduleSpec
    from switchyard.engine.monitor.filters import MonitorFilter

    e = src.engine
    marker = src.tmp_path / "longrun.marker"
    token_out = src.tmp_path / "token.out"
    await e.add_lane("batch", 2)
    await e.add_user("ann", licence="group")
    await e.add_group("reviewers")
    await e.add_member("reviewers", "ann")
    await e.add_secspec("finance", users=["ann"])
    await e.set_secret("token", "s3cret-value-1")
    await e.set_param("depth_threshold", "12")
    await e.save_filter("waiting", MonitorFilter(statuses=["waiting"]))
    await e.add_schedule(ScheduleSpec(name="nightly", cron="0 2 * * *", command=["true"]))
    await e.add_schedule(ScheduleSpec(name="failing", on_demand=True, command=["false"]))
    for name, text in [
        ("quick", QUICK.replace("VERSION", "v1")),
        ("nap", NAP),
        ("review", REVIEW),
        ("tokened", TOKENED.replace("OUTFILE", str(token_out))),
        ("broken", BROKEN),
        ("longrun", LONG.replace("MARKER", str(marker))),
    ]:
        await publish(src, name, text)
    await publish(src, "quick", QUICK.replace("VERSION", "v2"))  # version 2
    await e.grant("review", "reviewers", launch=True, view=True)

    # a real node takes them to real states, then dies (kill -9) mid-command
    serve = await src.serve()
    completed = await e.start_process("quick", {"amount": "5"}, version=1)
    failed_cmd = await e.start("failing")
    errored = await e.start_process("broken")
    cancelled = await e.start_process("nap")
    on_timer = await e.start_process("nap")
    on_item = await e.start_process("review", {"amount": "12.5"})
    running = await e.start_process("longrun")
    await src.wait_status(completed, "completed")
    await src.wait_status(failed_cmd, "failed")
    await src.wait_status(errored, "error")
    for waiting in (cancelled, on_timer, on_item):
        await src.wait_status(waiting, "waiting")
    await e.cancel(cancelled)
    await src.wait_status(cancelled, "cancelled")
    await src.wait_running(running)
    serve.kill_tree()
    queued = await e.start_process("tokened")  # no node: stays queued
    queued_v2 = await e.start_process("quick", {"amount": "7"})
    before = {i: await src.status(i) for i in (completed, failed_cmd, errored, cancelled)}
    assert before == {
        completed: "completed",
        failed_cmd: "failed",
        errored: "error",
        cancelled: "cancelled",
    }
    assert await src.status(running) == "running"
    assert await src.status(queued) == "queued"

    done = json.loads(migrate(src, target, "--json").stdout)
    assert done["ok"] and done["quarantine"] == []
    counts = {t["table"]: t["target_rows"] for t in done["tables"]}
    assert {t for t, n in counts.items() if n} == ALL_TABLES, counts
    secret = target.query("SELECT ciphertext FROM secrets WHERE key = 'token'")
    path = src.db_url.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        (original,) = conn.execute("SELECT ciphertext FROM secrets WHERE key = 'token'").fetchone()
    assert bytes(secret[0][0]) == original  # the same ciphertext, for the same key

    # on PostgreSQL, with the same data dir (the same key): everything runs to its end
    marker.touch()
    pg = await harness_for(target.async_url, src.data_dir)
    await pg.serve()
    await pg.wait_status(queued, "completed")
    assert (
        token_out.read_text() == "s3cret-value-1"
    )  # decrypted with the same key  # the secret decrypted right
    await pg.wait_status(queued_v2, "completed")
    assert "quick v2 7" in "\n".join(await pg.engine.log(queued_v2))
    restored = await pg.wait_status(running, "error", within=60)
    assert "restored" in (restored.reason or "")
    await pg.engine.retry(running)
    await pg.wait_status(running, "completed", within=60)
    await pg.engine.run_timers(instance_id=on_timer)
    await pg.wait_status(on_timer, "completed")
    (item,) = [i.id for i in (await pg.engine.work_items("all")).rows]
    await pg.engine.claim_work_item(item)
    await pg.engine.complete_work_item(item, "Accept", {"note": "fine"})
    await pg.wait_status(on_item, "completed")
    shown = await pg.engine.instance(on_item)
    assert shown.status == "completed"
    # what was there is there: people, rights, specs, filters, schedules, lanes
    assert target.query("SELECT login FROM group_members") == [("ann",)]
    assert {r[0] for r in target.query("SELECT name FROM schedules")} == {"nightly", "failing"}
    assert target.query("SELECT name FROM saved_filters") == [("waiting",)]
    assert target.query("SELECT max(version) FROM process_definitions WHERE name='quick'") == [(2,)]
    # new rows continue the copied ids (sequences were reset)
    new = await pg.engine.start_process("quick", {"amount": "1"})
    assert new > max(completed, queued_v2)

"""Cluster on PostgreSQL (issue 12, "Bench"): real `switchyard serve` nodes on one store.

Run: ``.venv/bin/python bench/cluster.py [--quick] [--instances N] [--fires N]``

A throw-away PostgreSQL server is started like the tests do (tests/pg_server.py: initdb
in a temp dir with the apt-installed /usr/lib/postgresql/*/bin, fsync off), one fresh
database per measurement. Nodes are `switchyard serve` subprocesses with distinct node
identities on this host (each serve registers its own node id); for the takeover one
node is started with ``SWITCHYARD_NODE_HOST=far-away`` so it stands for another machine
(its pid cannot be checked, only its heartbeat).

* process instances/s: N instances of a pure process (assign + end_process) started in
  batches with ``start_many`` while the nodes serve; start of the first batch -> all
  ``completed``. 1 node vs 2 nodes on PostgreSQL, and 1 node on SQLite (a file).
* schedule fires/s: N cron schedules (command ``true`` on a lane of 1, so the fired runs
  stay mostly queued) all due at the same second T, bulk-inserted before the nodes start;
  T -> every fire committed (polled). 1 node vs 2 nodes. With 2 nodes the fires are
  checked: 0 double (one row per schedule and T), 0 missed.
* takeover: a node "on another host" runs a command; a second node is live; the first is
  killed with SIGKILL. Time from the kill, and from its last heartbeat, until the command
  is restored in error by the live node, against ``node_dead_timeout``.

It prints a table; the last line is one JSON object. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select, text
from switchyard.engine.api import Engine
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.models import MISSED, Instance
from switchyard.store.queries import nodes as node_q
from switchyard.store.queries import schedules as sched_q

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pg_server import PgServer, find_bindir

SWITCHYARD = Path(sys.executable).parent / "switchyard"
PURE = """
process: pure
lane: procs
variables:
  x: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - assign: {x: "{{ x + 1 }}"}
      - end_process: done
"""
BATCH = 500
HEARTBEAT, DEAD = "0.3", "2"


class Node:
    """One `switchyard serve` subprocess."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as fh:
            self.popen = subprocess.Popen(
                [str(SWITCHYARD), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.node_id = ""

    async def ready(self) -> Node:
        while True:
            text_ = self.log.read_text(errors="replace")
            for line in text_.splitlines():
                if line.startswith("switchyard node ") and " serving " in line:
                    self.node_id = line.split()[2]
                    return self
            if self.popen.poll() is not None:
                raise RuntimeError(f"serve exited:\n{text_}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the node and its command groups (the host is gone)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Site:
    """A fresh store (PostgreSQL database or SQLite file), an observer Engine, nodes."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.data = tmp / "data"
        self.data.mkdir(mode=0o700)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
        self.env.update(SWITCHYARD_DB=url, SWITCHYARD_DATA=str(self.data), PYTHONUNBUFFERED="1")
        self.nodes: list[Node] = []
        self.engine: Engine

    async def node(self, **env: str) -> Node:
        node = Node({**self.env, **env}, self.tmp / f"serve-{len(self.nodes)}.log")
        self.nodes.append(node)
        return await node.ready()

    async def count(self, sql: str | Select[Any], **args: Any) -> int:
        stmt = text(sql) if isinstance(sql, str) else sql
        async with self.engine.store.read() as conn:
            return int((await conn.execute(stmt, args)).scalar_one())

    async def poll(self, sql: str | Select[Any], at_least: int, within: float, **args: Any) -> int:
        """Count ``sql`` every 20 ms until it reaches ``at_least`` or ``within`` s pass."""
        deadline = time.monotonic() + within
        seen = await self.count(sql, **args)
        while seen < at_least and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            seen = await self.count(sql, **args)
        return seen


@contextlib.asynccontextmanager
async def site(server: PgServer | None) -> AsyncIterator[Site]:
    with tempfile.TemporaryDirectory(prefix="switchyard-cluster-") as tmp:
        if server is None:
            url = f"sqlite+aiosqlite:///{tmp}/store.db"
        else:
            url = server.url(server.create_database("bench"))
        s = Site(url, Path(tmp))
        s.engine = await Engine.open(url, data_dir=s.data)
        try:
            await s.engine.set_param("node_heartbeat_interval", HEARTBEAT)
            await s.engine.set_param("node_dead_timeout", DEAD)
            yield s
        finally:
            for node in s.nodes:
                node.stop()
            await s.engine.close()


async def instances_per_s(server: PgServer | None, nodes: int, n: int) -> float:
    async with site(server) as s:
        await s.engine.add_lane("procs", 200)
        path = s.tmp / "pure.yaml"
        path.write_text(textwrap.dedent(PURE).lstrip())
        await s.engine.publish([path])
        await asyncio.gather(*(s.node() for _ in range(nodes)))
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            await s.engine.start_many("pure", [{"x": j} for j in range(i, min(n, i + BATCH))])
        q = "SELECT count(*) FROM instances WHERE status = 'completed'"
        await s.poll(q, n, 600)
        return n / (time.perf_counter() - t0)


async def fires(server: PgServer, nodes: int, n: int, lead: float) -> dict[str, float]:
    async with site(server) as s:
        await s.engine.add_lane("fires", 1)
        at = datetime.fromtimestamp(int(time.time() + lead) + 1, UTC)
        now = datetime.now(UTC)
        cron = f"{at.minute} {at.hour} * * * {at.second}"
        spec = ScheduleSpec(name="f-0", command=["true"], cron=cron, lane="fires")
        _, template = spec.to_row(now)
        rows = [
            {**template, "name": f"f-{i:05d}", "next_fire_at": at, "created_at": now}
            | {"updated_at": now}
            for i in range(n)
        ]
        async with s.engine.tx() as tx:
            await tx.conn.execute(sched_q.schedules.insert(), rows)
        await asyncio.gather(*(s.node() for _ in range(nodes)))
        late = at.timestamp() - time.time() < 0
        inst = Instance.__table__.c
        fired_at = (inst.fire_at == at) & (inst.status != MISSED)
        q = select(func.count()).where(fired_at)
        done = await s.poll(q, n, at.timestamp() + 120 - time.time())
        took = time.time() - at.timestamp()
        per_schedule = select(inst.schedule_id).where(inst.fire_at == at).group_by(inst.schedule_id)
        double = await s.count(
            select(func.count()).select_from(per_schedule.having(func.count() > 1).subquery())
        )
        fired = await s.count(select(func.count(func.distinct(inst.schedule_id))).where(fired_at))
        return {
            "rate": done / took if took > 0 else float("inf"),
            "double": double,
            "missed": n - fired,
            "late_start": float(late),
        }


async def takeover(server: PgServer) -> dict[str, float]:
    async with site(server) as s:
        await s.engine.add_lane("work", 10)
        far = await s.node(SWITCHYARD_NODE_HOST="far-away")
        go = s.tmp / "go"
        spec = ScheduleSpec(
            name="nap",
            command=["sh", "-c", f"until [ -e {go} ]; do sleep 0.05; done"],
            on_demand=True,
            lane="work",
        )
        await s.engine.add_schedule(spec)
        run = await s.engine.start("nap")
        q = "SELECT count(*) FROM instances WHERE id = :i AND status = 'running' AND pgid > 0"
        await s.poll(q, 1, 60, i=run)
        await s.node()
        killed = datetime.now(UTC)
        far.kill()
        q = "SELECT count(*) FROM instances WHERE id = :i AND status = 'error'"
        await s.poll(q, 1, 60, i=run)
        row = await s.engine.instance(run)
        async with s.engine.store.read() as conn:
            dead = await node_q.get(conn, far.node_id)
        assert dead is not None and row.ended_at is not None
        return {
            "after_kill": (row.ended_at - killed).total_seconds(),
            "after_last_heartbeat": (row.ended_at - dead["heartbeat_at"]).total_seconds(),
            "restored_in_error": float("restored in error" in (row.reason or "")),
        }


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {os.cpu_count()} cores"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = PgServer(find_bindir()).start()
    try:
        n, m = args.instances, args.fires
        pg1 = await instances_per_s(server, 1, n)
        pg2 = await instances_per_s(server, 2, n)
        lite1 = await instances_per_s(None, 1, n)
        f1 = await fires(server, 1, m, args.lead)
        f2 = await fires(server, 2, m, args.lead)
        take = await takeover(server)
    finally:
        server.stop()
    out: dict[str, Any] = {
        "instances": n,
        "instances_per_s_pg_1node": round(pg1, 1),
        "instances_per_s_pg_2nodes": round(pg2, 1),
        "instances_2nodes_over_1node": round(pg2 / pg1, 2),
        "instances_per_s_sqlite_1node": round(lite1, 1),
        "instances_pg_over_sqlite": round(pg1 / lite1, 2),
        "fires": m,
        "fires_per_s_1node": round(f1["rate"], 1),
        "fires_per_s_2nodes": round(f2["rate"], 1),
        "fires_2nodes_over_1node": round(f2["rate"] / f1["rate"], 2),
        "fires_2nodes_double": int(f2["double"]),
        "fires_2nodes_missed": int(f2["missed"]),
        "fires_1node_double": int(f1["double"]),
        "fires_1node_missed": int(f1["missed"]),
        "takeover_s_after_kill": round(take["after_kill"], 2),
        "takeover_s_after_last_heartbeat": round(take["after_last_heartbeat"], 2),
        "node_dead_timeout_s": float(DEAD),
        "node_heartbeat_interval_s": float(HEARTBEAT),
        "takeover_restored_in_error": bool(take["restored_in_error"]),
        "machine": load(),
    }
    return out


def table(out: dict[str, Any]) -> str:
    rows = [
        ("process instances/s, PostgreSQL, 1 node", out["instances_per_s_pg_1node"]),
        ("process instances/s, PostgreSQL, 2 nodes", out["instances_per_s_pg_2nodes"]),
        ("  ratio 2 nodes / 1 node", out["instances_2nodes_over_1node"]),
        ("process instances/s, SQLite, 1 node", out["instances_per_s_sqlite_1node"]),
        ("  ratio PostgreSQL / SQLite (1 node)", out["instances_pg_over_sqlite"]),
        ("schedule fires/s, 1 node", out["fires_per_s_1node"]),
        ("schedule fires/s, 2 nodes", out["fires_per_s_2nodes"]),
        ("  ratio 2 nodes / 1 node", out["fires_2nodes_over_1node"]),
        (
            f"{out['fires']} fires, 2 nodes: double / missed",
            f"{out['fires_2nodes_double']} / {out['fires_2nodes_missed']}",
        ),
        ("takeover after kill -9 (s)", out["takeover_s_after_kill"]),
        ("takeover after last heartbeat (s)", out["takeover_s_after_last_heartbeat"]),
        (
            "  node_dead_timeout / heartbeat (s)",
            f"{out['node_dead_timeout_s']} / {out['node_heartbeat_interval_s']}",
        ),
        ("machine", out["machine"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer instances (under 2 min)")
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--fires", type=int, default=10_000)
    parser.add_argument("--lead", type=float, default=8.0, help="seconds to T for fires")
    ns = parser.parse_args()
    if ns.instances is None:
        ns.instances = 1000 if ns.quick else 5000
    result = asyncio.run(main(ns))
    print(table(result))
    print(json.dumps(result))

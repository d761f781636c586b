"""The command line's start-up: each command, as a user types it, timed as a whole process
against ``python -c "import sqlmodel"`` (the floor the design accepts), in the same run.

Run: ``.venv/bin/python bench/cli.py`` (``--quick``: fewer runs and a smaller store, < 2 min).

The store is made once by the real engine (``Engine.open``: migrations, the first login its
admin), with a lane, a process, a cron schedule, then 100,000 instances bulk-inserted
through the store's own connection (``executemany``). Each command is then run N times as
a fresh process (``.venv/bin/switchyard --db STORE ...``), round-robin with the yardstick
so load changes hit every contender alike; the table shows medians (ms) and ratios.

Goals: ``--help`` <= 0.6x the yardstick; ``lane list``, ``instances --json --limit 100``
and ``schedule next NAME`` <= 1.3x. It prints numbers; it asserts nothing. The last line is
one JSON object: each command's ratio to the yardstick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from switchyard.engine.api import Engine
from switchyard.engine.schedules.spec import ScheduleSpec

BIN = Path(sys.executable).with_name("switchyard")
DEFINITION = """
process: bench
variables:
  amount: {type: decimal}
start: s
states:
  s:
    actions:
      - wait: {for: 1h}
"""
GOALS = {"--help": 0.6, "lane list": 1.3, "instances --json --limit 100": 1.3,
         "schedule next nightly": 1.3}  # fmt: skip


async def build(tmp: Path, rows: int) -> str:
    """A store with a lane, a process, a schedule and ``rows`` instances; its URL."""
    url = f"sqlite:///{tmp / 'store.db'}"
    engine = await Engine.open(url, data_dir=tmp / "data")
    try:
        await engine.add_lane("batch", 4)
        source = tmp / "bench.yaml"
        source.write_text(textwrap.dedent(DEFINITION).lstrip())
        await engine.publish([source])
        await engine.add_schedule(
            ScheduleSpec(name="nightly", command=["true"], cron="0 2 * * *", tz="Europe/Paris")
        )
        async with engine.store.read() as conn:
            from switchyard.store.queries import processes as proc_q

            row = await proc_q.latest(conn, "bench")
            assert row is not None
            definition = int(row["id"])
        base = datetime(2026, 1, 1, tzinfo=UTC)
        batch = 20_000
        for first in range(1, rows + 1, batch):
            values = []
            for n in range(first, min(rows, first + batch - 1) + 1):
                at = (base + timedelta(seconds=n * 7)).strftime("%Y-%m-%d %H:%M:%S.%f")
                status = "completed" if n % 10 else "error"
                values.append(
                    (n, definition, status, at, at, json.dumps({"amount": f"{n % 5000}.00"}))
                )
            async with engine.store.write() as conn:
                await conn.exec_driver_sql(
                    "INSERT INTO instances (id, process, definition_id, process_version, status,"
                    " started_at, updated_at, variables, current_state, lane, origin, command,"
                    " env, shell, overlap_limit, cancel_requested, visit, depth) VALUES"
                    " (?, 'bench', ?, 1, ?, ?, ?, ?, 's', 'default', 'manual', '[]', '{}', 0, 0,"
                    " 0, 0, 0)",
                    values,
                )
    finally:
        await engine.close()
    return url


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()}")
    return elapsed, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, 20,000 instances")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument(
        "--baseline",
        metavar="PYTHONPATH",
        help="also time the commands of another source tree, in the same rounds (a folder "
        "holding switchyard/{tui,engine,store}, e.g. an older commit: see bench/README.md)",
    )
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.quick else 100_000)
    runs = args.runs or (7 if args.quick else 21)
    with tempfile.TemporaryDirectory(prefix="sy-cli-") as name:
        tmp = Path(name)
        started = time.perf_counter()
        url = asyncio.run(build(tmp, rows))
        print(f"store: {rows:,} instances, made in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "SWITCHYARD_DB": url, "XDG_DATA_HOME": str(tmp / "data")}
        contenders = {
            'python -c "import sqlmodel"': [sys.executable, "-c", "import sqlmodel"],
            "--help": [str(BIN), "--help"],
            "lane list": [str(BIN), "lane", "list"],
            "instances --json --limit 100": [str(BIN), "instances", "--json", "--limit", "100"],
            "schedule next nightly": [str(BIN), "schedule", "next", "nightly"],
        }
        envs = {label: env for label in contenders}
        if args.baseline:
            for label, argv in list(contenders.items())[1:]:
                contenders[f"before: {label}"] = argv
                envs[f"before: {label}"] = {**env, "PYTHONPATH": args.baseline}
        times: dict[str, list[float]] = {label: [] for label in contenders}
        cpus: dict[str, list[float]] = {label: [] for label in contenders}
        for label, argv in contenders.items():  # warm-up: page cache, .pyc files
            once(argv, envs[label])
        for _ in range(runs):
            for label, argv in contenders.items():
                wall, cpu = once(argv, envs[label])
                times[label].append(wall)
                cpus[label].append(cpu)
    load = os.getloadavg()[0]
    medians = {label: statistics.median(t) * 1000 for label, t in times.items()}
    cpu_medians = {label: statistics.median(t) * 1000 for label, t in cpus.items()}
    floor = medians['python -c "import sqlmodel"']
    cpu_floor = cpu_medians['python -c "import sqlmodel"']
    print(f"{runs} runs each, round-robin; load average (1 min) at the end: {load:.1f}")
    print("(ratio: of the wall-time medians, the goal's measure; cpu: user + system time, less")
    print(" sensitive to other jobs on the machine, shown for information)")
    print(f"{'command':36} {'median ms':>10} {'ratio':>6} {'cpu ms':>7} {'cpu ratio':>9}  goal")
    ratios: dict[str, float] = {}
    for label, ms in medians.items():
        ratio = ms / floor
        goal = GOALS.get(label)
        if goal is not None or label.startswith("before: "):
            ratios[label] = round(ratio, 3)
        mark = "" if goal is None else f"<= {goal}  {'met' if ratio <= goal else 'MISSED'}"
        cpu = cpu_medians[label]
        print(f"{label:36} {ms:10.0f} {ratio:6.2f} {cpu:7.0f} {cpu / cpu_floor:9.2f}  {mark}")
    print(json.dumps({"sqlmodel_ms": round(floor, 1), **ratios}))


if __name__ == "__main__":
    main()

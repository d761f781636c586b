"""100,000 cron schedules due in the same second: Switchyard vs APScheduler 3.

Run: ``.venv/bin/python bench/scheduler.py [--schedules 100000] [--triggers 1] [--quick]``
(``--quick``: 20,000 schedules unless ``--schedules`` is given, idle CPU over 3 s).

Three contenders, each on a fresh event loop, in one run:

* switchyard - a real SQLite file store in a temp dir and the real ``Scheduler`` loop on
  the system clock; every fire is a committed ``instances`` row. A fire is "done" when the
  transaction holding its row has committed; its lateness is commit time - fire time.
* apscheduler (grace 1s) - ``AsyncIOScheduler`` + ``MemoryJobStore``, default
  ``misfire_grace_time``; lateness is fire time -> the job coroutine running.
* apscheduler (grace None) - the same with ``misfire_grace_time=None``.

All schedules are daily crons matching the same target second T (a few seconds ahead), so
each fires exactly once during the bench; ``--triggers K`` spreads them over K distinct
cron expressions that all match T (and differ in their next fire after it). A heartbeat
task sleeps 1 ms at a time and records the longest extra gap between its wake-ups (the
longest event-loop stall) from T until all fires are done (Switchyard: until its
scheduler has also moved every schedule on to its next fire, which it does after
committing the fires), and the same over the idle second before T (the machine's noise).
An idle loop in another process runs the same heartbeat over the same seconds
(``heartbeat.Baseline``): its stalls are the machine's alone, beside the scheduler's.
Idle CPU is the process CPU time (all threads) over 10 s (3 s with --quick) after the
burst, with nothing due.

It prints numbers and ratios; it asserts nothing. The last line is one JSON object:
``{"missed": …, "p99_ratio": …, "stall_ms": …, "idle_cpu_pct": …, "n": …, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from heartbeat import HEARTBEAT, Baseline, Heartbeat, ThreadBaseline  # bench/ is sys.path[0]
from loop_probe import CallbackClock
from scheduler_report import platform_line, report
from sqlalchemy import func, select, text
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.engine.schedules.scheduler import Scheduler
from switchyard.engine.schedules.spec import ScheduleSpec
from switchyard.store.models import MISSED, QUEUED
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import schedules as sched_q

DEADLINE = 60.0  # give up waiting for fires this long after T

# Seconds from the end of Switchyard's bulk insert to T (it then sets the triggers, about
# 10 µs a schedule); APScheduler's is timed on a small setup first (see bench_apscheduler).
LEAD_BASE = 2.0
LEAD_PER_SCHEDULE = 20e-6


@dataclass
class Result:
    name: str
    expected: int
    done: int = 0
    missed: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds, one per done fire
    stall: float = 0.0  # seconds, from T on
    noise: float = 0.0  # seconds: the longest stall in the idle second before T
    handled: float | None = None  # seconds from T until the scheduler was done with the burst
    idle_cpu: float = 0.0  # percent of one core
    idle_seconds: float = 0.0
    setup: float = 0.0  # seconds to create the schedules
    gaps: list[float] = field(default_factory=list)  # the longest loop stalls, seconds
    callback_cpu: list[float] = field(default_factory=list)  # longest callbacks' CPU, seconds
    note: str = ""
    trace: list[str] = field(default_factory=list)  # --trace: the longest stalls explained
    before: float = 0.0  # the longest stall from the scheduler's start to T (it prepares)
    over: int = 0  # stalls over 20 ms, from T (or the start) on
    loop_cpu: float = 0.0  # seconds of main-thread CPU in loop callbacks over the burst
    # The baseline: an idle loop in another process over the same seconds (bench/heartbeat.py)
    base_gaps: list[float] = field(default_factory=list)  # its stalls, longest first
    base_noise: float = 0.0  # its longest stall in the idle second before T

    def pct(self, q: float) -> float | None:
        if not self.lateness:
            return None
        xs = sorted(self.lateness)
        return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def cron_variants(at: datetime, k: int) -> list[str]:
    """``k`` distinct daily-ish cron expressions (seconds field last) that all match ``at``:
    the minute, hour, day and month fields each list ``at``'s value and maybe one more."""
    minutes = [f"{at.minute}"] + [f"{at.minute},{m}" for m in range(60) if m != at.minute]
    hours = [f"{at.hour}"] + [f"{at.hour},{h}" for h in range(24) if h != at.hour]
    days = ["*"] + [f"{at.day},{d}" for d in range(1, 29) if d != at.day]
    out: list[str] = []
    for day in days:
        for hour in hours:
            for minute in minutes:
                out.append(f"{minute} {hour} {day} * * {at.second}")
                if len(out) == k:
                    return out
    raise ValueError(f"at most {len(out)} distinct triggers")


def target_second(lead: float) -> datetime:
    """A whole UTC second at least ``lead`` seconds from now."""
    return datetime.fromtimestamp(math.ceil(time.time() + lead), UTC)


async def sleep_until(at: float) -> None:
    await asyncio.sleep(max(0.0, at - time.time()))


async def wait_until(done: asyncio.Event, deadline: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), max(0.0, deadline - time.time()))


async def idle_cpu(seconds: float) -> float:
    """Process CPU time (all threads) over ``seconds`` of wall time, as % of one core."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return 100.0 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)


# --------------------------------------------------------------------------- switchyard
async def bench_switchyard(
    n: int,
    k: int,
    idle_seconds: float,
    lead: float,
    late: float = 0.0,
    freeze: bool = True,
    trace: bool = False,
) -> Result:
    res = Result("switchyard", n, idle_seconds=idle_seconds)
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as tmp:
        engine = await Engine.open(f"sqlite+aiosqlite:///{tmp}/bench.db", data_dir=Path(tmp))
        try:
            return await _run_switchyard(engine, res, n, k, idle_seconds, lead, late, freeze, trace)
        finally:
            gc.unfreeze()  # the next contender starts with the collector as it was
            await engine.close()


async def _run_switchyard(
    engine: Engine,
    res: Result,
    n: int,
    k: int,
    idle_seconds: float,
    lead: float,
    late: float,
    freeze: bool,
    trace: bool,
) -> Result:
    # Create n schedules with one bulk insert (engine.add_schedule is a transaction each),
    # parked on a far fire time; then pick T and give them their triggers and T, one UPDATE
    # per distinct trigger, so that the time the insert takes cannot push T into the past.
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    parked = datetime(2999, 1, 1, tzinfo=UTC)
    _, template = ScheduleSpec(name="bench-0", command=["true"], cron="0 0 * * *").to_row(now)
    rows = [
        {
            **template,
            "name": f"bench-{i:06d}",
            "next_fire_at": parked,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    async with engine.tx() as tx:
        await tx.conn.execute(sched_q.schedules.insert(), rows)
    del rows
    at = target_second(lead)
    triggers = [
        {
            "i": i,
            "t": json.dumps(
                ScheduleSpec(name="b", command=["true"], cron=c).to_row(now)[1]["trigger"]
            ),
        }
        for i, c in enumerate(cron_variants(at, k))
    ]
    sch = sched_q.schedules
    async with engine.tx() as tx:  # trigger i goes to the schedules with id = first + i (mod k)
        c = tx.conn
        first = int((await c.execute(select(func.min(sch.c.id)))).scalar() or 0)
        await c.execute(text("CREATE TEMP TABLE bench_t (i INTEGER PRIMARY KEY, t TEXT)"))
        await c.execute(text("INSERT INTO bench_t VALUES (:i, :t)"), triggers)
        pick = text("(SELECT t FROM bench_t WHERE bench_t.i = (schedules.id - :first) % :k)")
        stmt = sch.update().values(trigger=pick.bindparams(first=first, k=k), next_fire_at=at)
        await c.execute(stmt)
        await c.execute(text("DROP TABLE bench_t"))
    res.setup = time.perf_counter() - t0

    # Record the wall time each scheduler transaction finished committing, with the
    # number of instances it queued.
    commits: list[tuple[float, int]] = []
    queued = [0]
    all_done = asyncio.Event()
    plain_tx = engine.tx

    @contextlib.asynccontextmanager
    async def timed_tx() -> AsyncIterator[Any]:
        async with plain_tx() as tx:
            yield tx
        done_at = time.time()
        for e in tx.events:
            if e.kind == ev.INSTANCES_CHANGED and e.data.get("status") == QUEUED:
                commits.append((done_at, int(e.data.get("count", 0))))
                queued[0] += commits[-1][1]
        if queued[0] >= n:
            all_done.set()

    engine.tx = timed_tx  # type: ignore[method-assign]

    if time.time() > at.timestamp() - 0.3:
        res.note = "setup ran past T - raise --lead"
    scheduler = Scheduler(engine)
    # The fire_due() call that queued the burst returns once every schedule is moved on.
    handled = asyncio.Event()
    handled_at = [0.0]
    plain_fire_due = scheduler.fire_due

    async def timed_fire_due() -> int:
        count = await plain_fire_due()
        if queued[0] >= n and not handled.is_set():
            handled_at[0] = time.time()
            handled.set()
        return count

    scheduler.fire_due = timed_fire_due  # type: ignore[method-assign]
    baseline = Baseline()  # an idle loop in another process: the machine's own stalls
    await baseline.start()
    in_thread = ThreadBaseline()  # --trace: one in a thread here, waiting for our GIL too
    if trace:
        in_thread.start()
    heart = Heartbeat()
    heart.start()
    t_fire = at.timestamp()
    begin = t_fire + late  # --late: the node starts this long after the fires (it was down)
    probe = CallbackClock(trace)
    probe.install()
    probe.start(begin, trace_since=time.time())
    if late:
        await sleep_until(begin)
    scheduler.start()
    started = time.time()
    if freeze:  # as a node does right after starting its scheduler (engine/node/runtime.py)
        gc.freeze()
    await sleep_until(t_fire)
    await wait_until(all_done, begin + DEADLINE)
    await wait_until(handled, begin + DEADLINE)
    res.stall = await heart.stop(begin)
    ended = time.time()
    res.callback_cpu = probe.stop()
    res.loop_cpu = probe.busy_cpu
    res.gaps, res.noise = heart.gaps(begin)[:5], heart.noise(begin)
    res.before = max(heart.gaps(started, t_fire), default=0.0)
    res.over = len([g for g in heart.gaps(begin) if g > 0.020])
    idle_loop = await baseline.stop()
    res.base_gaps = idle_loop.gaps(begin, ended)
    res.base_noise = idle_loop.noise(begin)
    res.handled = handled_at[0] - t_fire if handled.is_set() else None
    if trace:
        thread_gaps = in_thread.stop().gaps(begin, ended)
        shown = ", ".join(f"{g * 1000:.1f}" for g in thread_gaps[:5])
        res.trace.append(f"longest stalls, idle loop in a thread of this process: {shown} ms")
        worst = sorted((s for s in heart.stalls if s[0] > started), key=lambda s: -s[1])[:8]
        res.trace += probe.explain(sorted(worst)) + probe.heaviest()

    await asyncio.sleep(1.0)  # let the scheduler go back to sleep
    res.idle_cpu = await idle_cpu(idle_seconds)
    await scheduler.stop()
    engine.tx = plain_tx  # type: ignore[method-assign]

    # Count what was committed, straight from the store.
    inst = inst_q.instances
    async with engine.store.read() as conn:
        stmt = select(inst.c.status, func.count()).where(inst.c.fire_at == at)
        counts = dict((await conn.execute(stmt.group_by(inst.c.status))).all())
        sch = sched_q.schedules
        stmt = select(func.count()).where(sch.c.next_fire_at <= at)
        not_advanced = int((await conn.execute(stmt)).scalar() or 0)
    res.done = int(counts.get(QUEUED, 0))
    res.missed = n - res.done
    if counts.get(MISSED):
        res.note = f"{counts[MISSED]} recorded as missed"
    if not_advanced:
        res.note += f" {not_advanced} schedules still due at T (not advanced)"
    res.lateness = [done_at - t_fire for done_at, count in commits for _ in range(count)]
    return res


# -------------------------------------------------------------------------- apscheduler
async def bench_apscheduler(
    n: int, k: int, idle_seconds: float, lead: float | None, *, grace_none: bool
) -> Result:
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    name = "apscheduler grace=None" if grace_none else "apscheduler grace=1s"
    res = Result(name, n, idle_seconds=idle_seconds)
    ran: list[float] = []
    missed = [0]
    all_done = asyncio.Event()

    async def job() -> None:
        ran.append(time.time())
        if len(ran) + missed[0] >= n:
            all_done.set()

    def on_missed(_event: Any) -> None:
        missed[0] += 1
        if len(ran) + missed[0] >= n:
            all_done.set()

    extra: dict[str, Any] = {"misfire_grace_time": None} if grace_none else {}

    def setup(count: int, at: datetime) -> AsyncIOScheduler:
        sched = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
        sched.add_listener(on_missed, EVENT_JOB_MISSED)
        crons = [c.split() for c in cron_variants(at, min(k, count))]
        for i in range(count):
            minute, hour, day, _, _, second = crons[i % len(crons)]
            trigger = CronTrigger(hour=hour, minute=minute, day=day, second=second, timezone=UTC)
            sched.add_job(job, trigger, id=f"bench-{i:06d}", **extra)
        sched.start()  # adds the pending jobs (computes each next run time)
        return sched

    if lead is None:  # time a small setup, and leave twice the time it predicts for n
        sample = min(n, 2000)
        t0 = time.perf_counter()
        setup(sample, target_second(3600)).shutdown(wait=False)
        lead = LEAD_BASE + 2 * (time.perf_counter() - t0) * n / sample
        gc.collect()
    t0 = time.perf_counter()
    at = target_second(lead)
    sched = setup(n, at)
    res.setup = time.perf_counter() - t0
    if time.time() > at.timestamp() - 0.3:
        res.note = "setup ran past T - raise --lead"

    heart = Heartbeat()
    heart.start()
    t_fire = at.timestamp()
    await sleep_until(t_fire)
    await wait_until(all_done, t_fire + DEADLINE)
    res.stall = await heart.stop(t_fire)
    res.gaps, res.noise = heart.gaps(t_fire)[:5], heart.noise(t_fire)

    await asyncio.sleep(1.0)
    res.idle_cpu = await idle_cpu(idle_seconds)
    sched.shutdown(wait=False)

    res.done = len(ran)
    res.missed = n - res.done
    res.lateness = [t - t_fire for t in ran]
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--schedules", type=int, help="schedules due at T (default 100,000; 20,000 with --quick)"
    )
    parser.add_argument(
        "--triggers", type=int, default=1, help="distinct cron expressions (default 1)"
    )
    parser.add_argument(
        "--late",
        type=float,
        default=0.0,
        help="start Switchyard's scheduler this many seconds after T (a node that was "
        "down or woke late); lateness still counts from T, stalls from the start",
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="do not gc.freeze() the heap when Switchyard's scheduler starts (a node does)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="explain Switchyard's longest stalls: the loop's long callbacks (wall and CPU) "
        "and late wake-ups (bench/loop_probe.py)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="20,000 schedules, idle CPU over 3 s, not 10 s"
    )
    parser.add_argument(
        "--lead",
        type=float,
        help="seconds from setup to T (default: Switchyard 2 s + 20 µs a schedule after "
        "its bulk insert; APScheduler 2 s + twice its setup time, timed on 2,000 jobs)",
    )
    parser.add_argument(
        "--only",
        choices=["switchyard", "apscheduler"],
        help="run one contender (APScheduler runs both graces)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # APScheduler logs one warning per missed fire; keep the console (and its cost) out.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    n = args.schedules or (20_000 if args.quick else 100_000)
    k, idle = max(1, min(args.triggers, n)), 3.0 if args.quick else 10.0
    print(
        f"{n:,} cron schedules ({k:,} distinct) due in the same second; "
        f"heartbeat every {HEARTBEAT * 1000:g} ms"
    )
    print(f"({platform_line()})")
    if args.no_freeze:
        print("(--no-freeze: the heap is not frozen when the scheduler starts, unlike a node)")

    results: list[Result] = []
    runs: list[tuple[str, Callable[[], Any]]] = []
    if args.only in (None, "switchyard"):
        lead = args.lead if args.lead is not None else LEAD_BASE + LEAD_PER_SCHEDULE * n
        runs.append(
            (
                "switchyard",
                lambda: bench_switchyard(
                    n, k, idle, lead, args.late, not args.no_freeze, args.trace
                ),
            )
        )
    if args.only in (None, "apscheduler"):
        aps_lead = args.lead
        runs.append(
            (
                "apscheduler grace=1s",
                lambda: bench_apscheduler(n, k, idle, aps_lead, grace_none=False),
            )
        )
        runs.append(
            (
                "apscheduler grace=None",
                lambda: bench_apscheduler(n, k, idle, aps_lead, grace_none=True),
            )
        )
    started = time.perf_counter()
    for name, run in runs:
        t0 = time.perf_counter()
        print(f"running {name} ...", flush=True)
        results.append(asyncio.run(run()))  # a fresh event loop per contender
        print(f"  {time.perf_counter() - t0:.1f} s", flush=True)
        gc.collect()
    summary = report(results, n)
    summary.update(triggers=k, bench_s=round(time.perf_counter() - started, 1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

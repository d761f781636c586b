"""The console's keypress-to-repaint with the Monitor showing 1,000 live rows (SQLite).

Run: ``.venv/bin/python bench/monitor_screen.py`` (``--presses 300 --rate 30 --live 0.1``);
``--quick``: 150 presses and 10 page flips (under a minute); ``--hog``: as many
CPU-burning processes as the machine has cores run beside it (started after the store is
filled, stopped at the end), the "another process loading both cores" of issue 14;
``--no-idle-gc``: without tui/idle_gc.py (CPython's own GC thresholds), to measure it.

The store is filled like bench/monitor.py (bulk inserts, ``--rows`` instances of 50
processes), so the filter ``process=p07`` matches ``rows / 50`` instances (2,000 by
default). The Monitor's page is raised to 1,000 rows for this bench (it is 100 in the
console), and the app runs headless at 160x50 with the real engine and clock.

Live: every ``--live`` seconds one of the matching instances is updated in the store by
another thread (its state and ``updated_at``: it moves to the top of the newest-first
page) and an ``instances.changed`` event is published, so the monitor re-queries its
1,000-row page (debounced 0.3 s) and diffs it into the table.

Phases, the live updates running throughout: 5 s idle (each live update timed: its diff
into the table, and until the repaint that shows it); ``--presses`` down/up presses back
to back at ``--rate`` keys a second (key repeat: the worst case); as many again in bursts
of 30 (a second of key repeat) half a second apart; then PageDown/PageUp (a new page of
1,000 rows each). A keypress is timed from just before ``pilot.press`` to the end of the
first screen update that shows its effect (the cursor moved; the next page's rows).
Headless Textual writes nothing to a terminal, so the bench renders each update's
segments itself, as a terminal would get them. It prints p50/p99/max and the RSS; it
asserts nothing. Goals: keypress-to-repaint p99 under 50 ms; a page change (PgDn/PgUp to a
new 1,000-row page, median) at most 100 ms. Also timed: the longest loop stall (an
asyncio task waking every 5 ms, during the presses). Last line: ``{"page_change_ms":…,
"page_change_p99_ms":…, "keypress_p99_ms":…, "keypress_p50_ms":…, "burst_p99_ms":…,
"key_cpu_p50_ms":…, "key_cpu_p99_ms":…, "stall_ms":…, "page_query_ms":…,
"page_rows_ms":…, "longest_callback_ms":…, "hog":…,
"idle_gc":…}`` (page_query/page_rows: medians of the engine's page query and putting the
rows into the table, during the flips; key_cpu: the main thread's CPU time from a down/up
keypress to its repaint, which other processes' load does not inflate; longest_callback:
the loop's longest callback in main-thread CPU during the down/up presses,
bench/loop_probe.py, the 8 longest printed with what they ran). The down/up keys over
30 ms are listed with what overlapped them: GC passes by generation, the Monitor's diffs
into the table ("rows"), the engine's page queries.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import importlib.util
import json
import multiprocessing
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loop_probe import CallbackClock  # bench/ is sys.path[0]
from switchyard.engine.api import Engine
from switchyard.engine.kernel import events as ev
from switchyard.store.queries import processes as proc_q
from switchyard.tui.app import SwitchyardApp
from switchyard.tui.screens import monitor as monitor_screen
from switchyard.tui.screens.monitor import MonitorScreen
from textual._compositor import CompositorUpdate

PAGE = 1000
FILTER = "process=p07"
#: what happened when (perf_counter start, end): keys (press to repaint), GC passes (by
#: generation), the Monitor's diffs into the table, the engine's page queries
SPANS: dict[str, list[tuple[float, float]]] = {
    "key": [],
    "gc0": [],
    "gc1": [],
    "gc2": [],
    "rows": [],
    "query": [],
}


def time_gc() -> None:
    """Every GC pass's span, by generation (gc.callbacks)."""
    began = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            SPANS[f"gc{info['generation']}"].append((began[0], time.perf_counter()))

    gc.callbacks.append(callback)


def slow_keys(threshold: float, since: float, until: float) -> list[str]:
    """The keys slower than ``threshold`` (seconds) between ``since`` and ``until``, each
    with what overlapped it (ms)."""
    lines = []
    for start, end in SPANS["key"]:
        if not since <= start <= until or end - start < threshold:
            continue
        found = []
        for kind in ("gc0", "gc1", "gc2", "rows", "query"):
            for a, b in SPANS[kind]:
                if a < end and b > start:
                    found.append(f"{kind} {(b - a) * 1000:.0f}")
        lines.append(f"  {(end - start) * 1000:6.1f} ms  {', '.join(found) or '-'}")
    return lines


def load_filler() -> Any:
    """bench/monitor.py's definition text and bulk ``fill``."""
    spec = importlib.util.spec_from_file_location(
        "bench_monitor", Path(__file__).with_name("monitor.py")
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def make_store(tmp: Path, rows: int) -> tuple[str, float]:
    filler = load_filler()
    db = tmp / "store.db"
    url = f"sqlite:///{db}"
    engine = await Engine.open(url, data_dir=tmp / "data")
    for i in range(filler.PROCESSES):
        path = tmp / f"p{i:02d}.yaml"
        path.write_text(textwrap.dedent(filler.DEFINITION.format(name=f"p{i:02d}")).lstrip())
    published = await engine.publish(sorted(tmp.glob("p*.yaml")))
    definitions = {}
    async with engine.store.read() as conn:
        for p in published:
            row = await proc_q.latest(conn, p.name)
            assert row is not None
            definitions[p.name] = int(row["id"])
    await engine.close()
    return url, filler.fill(db, rows, definitions)


def first_key(table: Any) -> str | None:
    """The first row's key: a VirtualTable's ``key_at``, or (the DataTable-based table the
    Monitor had before, to run this bench on that code too) its first ordered row's."""
    if not table.row_count:
        return None
    key_at = getattr(table, "key_at", None)
    return key_at(0) if key_at is not None else str(table.ordered_rows[0].key.value)


class Stamps:
    """Every screen update: when it ended, the cursor row and the first row's key."""

    def __init__(self, app: SwitchyardApp) -> None:
        self.app = app
        self.seen: list[tuple[float, int, str | None]] = []
        self.cpu: list[float] = []  # the main thread's CPU time at each update's end
        self.spent: list[float] = []  # main-thread CPU from a keypress to its repaint
        self.shown = asyncio.Event()  # set at every update
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            if isinstance(renderable, CompositorUpdate):  # what a terminal would be sent
                renderable.render_segments(app.console)
            table = self.monitor.table if isinstance(app.screen, MonitorScreen) else None
            first = first_key(table) if table else None
            self.seen.append((time.perf_counter(), table.cursor_row if table else -1, first))
            self.cpu.append(time.thread_time())
            self.shown.set()

        app._display = display  # type: ignore[method-assign]

    @property
    def monitor(self) -> MonitorScreen:
        screen = self.app.screen
        assert isinstance(screen, MonitorScreen)
        return screen

    async def first(
        self, since: float, done: Any, *, within: float = 5.0, cpu: float | None = None
    ) -> float | None:
        """Seconds from ``since`` to the first update that satisfies ``done`` (and, given
        the main thread's CPU time at ``since``, the CPU it spent until then in ``spent``)."""
        deadline = time.perf_counter() + within
        checked = bisect.bisect_left(self.seen, (since,))  # updates come in time order
        while True:
            self.shown.clear()
            for n, (at, cursor, first) in enumerate(self.seen[checked:], checked):
                if done(cursor, first):
                    if cpu is not None:
                        self.spent.append(self.cpu[n] - cpu)
                    return at - since
            checked = len(self.seen)
            try:  # woken by the next update (it polled every 0.5 ms: 2,000 wake-ups a
                # second in the process measured, a CPU share the console then lacked)
                await asyncio.wait_for(self.shown.wait(), deadline - time.perf_counter())
            except TimeoutError:
                return None


async def live_updates(db: Path, engine: Engine, ids: list[int], every: float) -> None:
    """Touch one matching instance every ``every`` seconds, as a node would."""
    rng = random.Random(11)
    con = sqlite3.connect(db, check_same_thread=False)

    def touch(n: int, chosen: int) -> None:
        at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        con.execute(
            "UPDATE instances SET current_state = ?, updated_at = ? WHERE id = ?",
            (f"s{n % 7}", at, chosen),
        )
        con.commit()

    try:
        n = 0
        while True:
            await asyncio.sleep(every)
            n += 1
            chosen = rng.choice(ids)
            await asyncio.to_thread(touch, n, chosen)  # a writer elsewhere, not on this loop
            engine.bus.publish(ev.EngineEvent(ev.INSTANCES_CHANGED, chosen, {"ids": [chosen]}))
    finally:
        con.close()


def burn() -> None:
    while True:
        pass


def start_hogs() -> list[multiprocessing.Process]:
    """One CPU-burning process per core (issue 14: "another process loading both cores")."""
    hogs = [multiprocessing.Process(target=burn, daemon=True) for _ in range(os.cpu_count() or 2)]
    for hog in hogs:
        hog.start()
    return hogs


async def watch_stalls(stalls: list[float], every: float = 0.005) -> None:
    """How late the loop wakes a task that sleeps ``every`` seconds (its stalls)."""
    while True:
        at = time.perf_counter()
        await asyncio.sleep(every)
        stalls.append(time.perf_counter() - at - every)


def row(label: str, values: list[float], note: str = "") -> str:
    ms = [v * 1000 for v in values]
    if not ms:
        return f"{label:36} {0:>5}"
    return (
        f"{label:36} {len(ms):>5} {statistics.median(ms):>8.1f} {percentile(ms, 99):>8.1f}"
        f" {max(ms):>8.1f}  {note}"
    )


async def presses(
    pilot: Any, stamps: Stamps, keys: list[str], rate: float, done: Any
) -> tuple[list[float], int]:
    """Press ``keys`` (at most ``rate`` a second); the time each took to show."""
    took: list[float] = []
    missed = 0
    screen = stamps.monitor
    for key in keys:
        t0, cpu0 = time.perf_counter(), time.thread_time()
        before = (screen.table.cursor_row, first_key(screen.table))
        await pilot.press(key)
        shown = await stamps.first(t0, lambda c, f, b=before: done(b, c, f), cpu=cpu0)
        if shown is None:
            missed += 1
        else:
            took.append(shown)
            SPANS["key"].append((t0, t0 + shown))
        if rate:
            await asyncio.sleep(max(0.0, t0 + 1 / rate - time.perf_counter()))
    return took, missed


async def main(
    rows: int, count: int, pages: int, live: float, rate: float, hog: bool, idle_gc: bool
) -> None:
    monitor_screen.PAGE = PAGE
    time_gc()
    if not idle_gc:
        from switchyard.tui import idle_gc as idle_gc_module

        idle_gc_module.IdleCollector.start = lambda self, app: None  # type: ignore[method-assign]
    refreshes: list[tuple[float, float]] = []  # (start, end) of each diff into the table
    render = MonitorScreen._render_rows

    def timed_render(self: MonitorScreen) -> None:
        started = time.perf_counter()
        render(self)
        refreshes.append((started, time.perf_counter()))
        SPANS["rows"].append(refreshes[-1])

    MonitorScreen._render_rows = timed_render  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="sy-monitor-screen-") as tmp_name:
        tmp = Path(tmp_name)
        url, seconds = await make_store(tmp, rows)
        print(f"filled {rows:,} instances in {seconds:.1f} s; filter {FILTER!r}")
        hogs = start_hogs() if hog else []
        if hogs:
            print(f"{len(hogs)} CPU-burning processes beside the console")
        engine = await Engine.open(url, data_dir=tmp / "data")
        queries: list[float] = []  # each engine.monitor call's wall time (the page query)
        query = engine.monitor

        async def timed_query(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await query(*args, **kwargs)
            finally:
                queries.append(time.perf_counter() - started)
                SPANS["query"].append((started, time.perf_counter()))

        engine.monitor = timed_query  # type: ignore[method-assign]
        app = SwitchyardApp(engine)
        before_rss = rss_mb()
        async with app.run_test(size=(160, 50)) as pilot:
            stamps = Stamps(app)
            await pilot.press("3", "slash", *FILTER)
            started = time.perf_counter()
            await pilot.press("enter")
            first_page = await stamps.first(started, lambda _c, f: f is not None, within=30)
            screen = stamps.monitor
            print(
                f"first page: {screen.table.row_count:,} rows (of {screen.total:,}) on screen"
                f" {(first_page or 0) * 1000:.0f} ms after Enter"
            )
            ids = [r.instance.id for r in screen.rows.values()]
            ticker = asyncio.create_task(live_updates(tmp / "store.db", engine, ids, live))

            await asyncio.sleep(5.0)  # idle: live updates go straight to the screen
            idle = list(refreshes)
            refreshes.clear()
            stalls: list[float] = []
            staller = asyncio.create_task(watch_stalls(stalls))
            probe = CallbackClock()  # the loop's longest callbacks (CPU) during the presses
            probe.keep = 8
            probe.install()
            probe.start(time.time())
            pressing = time.perf_counter()
            keys = ["down" if (n // 300) % 2 == 0 else "up" for n in range(count)]
            moved, missed = await presses(
                pilot, stamps, keys, rate, lambda b, cursor, _f: cursor != b[0]
            )
            probe.stop()
            pressed = time.perf_counter()
            key_cpu = list(stamps.spent)
            during = len(refreshes)
            refreshes.clear()
            bursts: list[float] = []  # key repeat in bursts of a second, half a second apart
            for n in range(count // 30):
                await asyncio.sleep(0.5)
                # up and down in turn, but never into the top or bottom row: a key there
                # moves nothing, and it was timed until the next live refresh moved the
                # cursor (~0.3 s later; burst_p99 280-290 ms on a quiet machine)
                at, last = screen.table.cursor_row, screen.table.row_count - 1
                up = (n % 2 == 1 and at > 30) or at > last - 30
                took, lost = await presses(
                    pilot,
                    stamps,
                    ["up" if up else "down"] * 30,
                    rate,
                    lambda b, cursor, _f: cursor != b[0],
                )
                bursts += took
                missed += lost
            between = len(refreshes)
            refreshes.clear()
            queries.clear()
            flips, missed_pages = await presses(
                pilot,
                stamps,
                ["pagedown" if n % 2 == 0 else "pageup" for n in range(pages)],
                0,
                lambda b, _c, first: first is not None and first != b[1],
            )
            flip_queries, flip_renders = list(queries), [e - s for s, e in refreshes]
            ticker.cancel()
            staller.cancel()
            shown_rss = rss_mb()
        await engine.close()
        for process in hogs:
            process.kill()
            process.join()
    live_diff = [end - start for start, end in idle]
    live_shown = []
    for start, end in idle:
        shown = next((at for at, _c, _f in stamps.seen if at >= end), None)
        if shown is not None:
            live_shown.append(shown - start)
    print(f"\n{'':36} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    met = "met" if moved and percentile(moved, 99) < 0.05 else "MISSED"
    pace = f"{rate:g}/s" if rate else "back to back"
    print(row(f"key -> repaint: down/up ({pace})", moved, f"goal p99 < 50 ms: {met}"))
    print(row("  main-thread CPU of each", key_cpu, "press to repaint, Pilot's share too"))
    print(row("  ... in 1 s bursts, 0.5 s apart", bursts, f"{between} live updates in the pauses"))
    print(row("key -> repaint: PgDn/PgUp", flips, "a new page of 1,000: query + rows"))
    print(row("  of which: page queries", flip_queries, "engine.monitor, live ones too"))
    print(row("  of which: rows into the table", flip_renders, "cells built + diffed in"))
    print(row("idle: live update, diff", live_diff, "(the loop is busy meanwhile)"))
    print(row("idle: live update, diff + repaint", live_shown))
    print(
        f"live updates applied during the {count} back-to-back presses: {during} (a live update"
        f" waits until the cursor rests {monitor_screen.NAV_QUIET:g} s, at most"
        f" {monitor_screen.NAV_HOLD:g} s)"
    )
    if missed or missed_pages:
        print(f"{missed + missed_pages} presses showed no repaint within 5 s")
    print(f"longest loop stall during the presses: {max(stalls, default=0) * 1000:.0f} ms")
    print("down/up keys over 30 ms and what overlapped them (ms):")
    print("\n".join(slow_keys(0.03, pressing, pressed)) or "  none")
    print("longest callbacks during the down/up presses (main thread CPU):")
    for spent, what in probe.named:
        print(f"  {spent * 1000:6.1f} ms  {what[:110]}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"RSS: {before_rss:.0f} MB before the app, {shown_rss:.0f} MB with the rows shown"
        f" after the run; peak {peak:.0f} MB"
    )
    result = {
        "page_change_ms": round(statistics.median(flips) * 1000, 1) if flips else None,
        "page_change_p99_ms": round(percentile(flips, 99) * 1000, 1) if flips else None,
        "keypress_p99_ms": round(percentile(moved, 99) * 1000, 1) if moved else None,
        "keypress_p50_ms": round(statistics.median(moved) * 1000, 1) if moved else None,
        "burst_p99_ms": round(percentile(bursts, 99) * 1000, 1) if bursts else None,
        "key_cpu_p50_ms": round(statistics.median(key_cpu) * 1000, 2) if key_cpu else None,
        "key_cpu_p99_ms": round(percentile(key_cpu, 99) * 1000, 2) if key_cpu else None,
        "stall_ms": round(max(stalls, default=0) * 1000, 1),
        "page_query_ms": round(statistics.median(flip_queries) * 1000, 1) if flip_queries else None,
        "page_rows_ms": round(statistics.median(flip_renders) * 1000, 1) if flip_renders else None,
        "longest_callback_ms": round(probe.named[0][0] * 1000, 1) if probe.named else 0.0,
        "hog": len(hogs),
        "idle_gc": idle_gc,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="instances in the store")
    parser.add_argument("--presses", type=int, default=600, help="down/up presses")
    parser.add_argument("--rate", type=float, default=30, help="keys a second (0: no pause)")
    parser.add_argument("--pages", type=int, default=20, help="PageDown/PageUp presses")
    parser.add_argument("--live", type=float, default=0.1, help="seconds between live updates")
    parser.add_argument("--quick", action="store_true", help="150 presses, 10 page flips")
    parser.add_argument("--hog", action="store_true", help="burn every core beside it")
    parser.add_argument("--no-idle-gc", action="store_true", help="without tui/idle_gc.py")
    args = parser.parse_args()
    if args.quick:
        args.presses, args.pages = 150, 10
    asyncio.run(
        main(
            args.rows,
            args.presses,
            args.pages,
            args.live,
            args.rate,
            args.hog,
            not args.no_idle_gc,
        )
    )

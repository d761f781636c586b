"""bench/scheduler.py's table, goals and JSON summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler import Result

# Goals printed beside the numbers.
GOAL_STALL_MS = 20.0
GOAL_P99_FRACTION = 0.1  # Switchyard p99 lateness <= 1/10 of APScheduler's (grace None)
GOAL_IDLE_CPU_PCT = 0.5  # "~0"


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def report(results: list[Result], n: int) -> dict[str, Any]:
    """Print the table and the goals; return the summary for the JSON line."""
    sy = next((r for r in results if r.name == "switchyard"), None)
    ap = next((r for r in results if r.name == "apscheduler grace=None"), None)
    p99_goal = None if ap is None or ap.pct(0.99) is None else GOAL_P99_FRACTION * ap.pct(0.99)
    width = 26
    header = ["", *(r.name for r in results), "goal (switchyard)"]
    lines = [
        ("setup (create schedules)", [f"{r.setup:.2f} s" for r in results], ""),
        ("fires expected", [f"{r.expected:,}" for r in results], ""),
        ("fires done", [f"{r.done:,}" for r in results], f"{n:,}"),
        ("fires missed", [f"{r.missed:,}" for r in results], "0"),
        ("lateness p50", [ms(r.pct(0.50)) for r in results], ""),
        (
            "lateness p99",
            [ms(r.pct(0.99)) for r in results],
            "-" if p99_goal is None else f"<= {ms(p99_goal)} (1/10 of APS None)",
        ),
        ("lateness max", [ms(r.pct(1.0)) for r in results], ""),
        ("burst handled (advanced)", [ms(r.handled) for r in results], ""),
        ("longest loop stall", [ms(r.stall) for r in results], f"<= {GOAL_STALL_MS:.0f} ms"),
        ("stall, idle 1 s before T", [ms(r.noise) for r in results], "(machine noise)"),
        (
            "stall, start to T",
            [ms(r.before) if r.name == "switchyard" else "-" for r in results],
            "(the scheduler waits, computes ahead)",
        ),
        (
            "stall, idle loop (baseline)",
            [ms(max(r.base_gaps, default=0.0)) if r.name == "switchyard" else "-" for r in results],
            "(another process, same seconds)",
        ),
        (
            "stalls over 20 ms (base)",
            [
                f"{r.over} ({sum(g > 0.020 for g in r.base_gaps)})"
                if r.name == "switchyard"
                else "-"
                for r in results
            ],
            "",
        ),
        (
            "loop CPU in callbacks",
            [ms(r.loop_cpu) if r.name == "switchyard" else "-" for r in results],
            "(main thread, over the burst)",
        ),
        (
            "idle CPU",
            [f"{r.idle_cpu:.2f} % ({r.idle_seconds:.0f} s)" for r in results],
            f"~0 (<= {GOAL_IDLE_CPU_PCT} %)",
        ),
    ]
    print()
    print("".join(h.ljust(width) for h in header).rstrip())
    for label, cells, goal in lines:
        print((label.ljust(width) + "".join(c.ljust(width) for c in cells) + goal).rstrip())
    for r in results:
        if r.gaps:
            shown = ", ".join(f"{g * 1000:.1f}" for g in r.gaps)
            print(f"longest stalls, {r.name}: {shown} ms")
        if r.base_gaps:
            shown = ", ".join(f"{g * 1000:.1f}" for g in r.base_gaps[:5])
            print(f"longest stalls, idle loop in another process (baseline): {shown} ms")
        if r.callback_cpu:
            shown = ", ".join(f"{c * 1000:.1f}" for c in r.callback_cpu)
            print(f"longest callbacks by main-thread CPU, {r.name}: {shown} ms")
        for line in r.trace:
            print(f"  {line}")
        if r.note:
            print(f"note: {r.name}: {r.note}")

    summary: dict[str, Any] = {"n": n}
    if sy is None:
        return summary
    sp99 = sy.pct(0.99)
    base = max(sy.base_gaps, default=0.0)
    summary.update(
        missed=sy.missed,
        p99_ratio=None,
        stall_ms=round(sy.stall * 1000, 1),
        noise_stall_ms=round(sy.noise * 1000, 1),
        callback_cpu_ms=round(max(sy.callback_cpu, default=0.0) * 1000, 1),
        idle_cpu_pct=round(sy.idle_cpu, 2),
        p99_ms=None if sp99 is None else round(sp99 * 1000, 1),
        handled_ms=None if sy.handled is None else round(sy.handled * 1000, 1),
        baseline_stall_ms=round(base * 1000, 1),
        baseline_noise_ms=round(sy.base_noise * 1000, 1),
        stall_over_baseline=None if base <= 0 else round(sy.stall / base, 2),
        stalls_over_20ms=sy.over,
        baseline_over_20ms=sum(g > 0.020 for g in sy.base_gaps),
        loop_cpu_ms=round(sy.loop_cpu * 1000, 1),
        before_t_stall_ms=round(sy.before * 1000, 1),
    )
    print()
    checks = [("zero missed", sy.missed == 0, f"{sy.missed:,} missed")]
    if ap is not None:
        sp, ap99 = sy.pct(0.99), ap.pct(0.99)
        if sp is not None and ap99:
            ratio = sp / ap99
            print(f"ratio p99 lateness switchyard / apscheduler(grace None): {ratio:.4f}")
            summary.update(p99_ratio=round(ratio, 4), aps_p99_ms=round(ap99 * 1000, 1))
            checks.append(("p99 lateness <= 1/10 of APScheduler", ratio <= 0.1, f"{ratio:.3f}"))
        if ap.stall > 0:
            print(
                f"ratio loop stall   switchyard / apscheduler(grace None): {sy.stall / ap.stall:.4f}"
            )
    checks.append(
        ("loop stall <= 20 ms", sy.stall * 1000 <= GOAL_STALL_MS, ms(sy.stall)),
    )
    checks.append(
        ("idle CPU ~0", sy.idle_cpu <= GOAL_IDLE_CPU_PCT, f"{sy.idle_cpu:.2f} %"),
    )
    print()
    for label, ok, value in checks:
        print(f"goal {'met   ' if ok else 'MISSED'}  {label:<38} ({value})")
    return summary


def platform_line() -> str:
    import os
    import platform
    import sqlite3
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, SQLAlchemy {version('sqlalchemy')}, "
        f"APScheduler {version('apscheduler')}"
    )

"""The console's cold start to its first screen vs a bare Textual app that imports sqlmodel.

Run: ``.venv/bin/python bench/console_start.py`` (``--quick``: fewer runs).

A store is filled with the demo data once (``switchyard demo --db ...``, in its own
XDG_DATA_HOME so nothing real is touched). Then, alternating, in fresh processes:

- console: ``switchyard --db URL`` exactly as a user starts it (the CLI's entry point, the
  engine opened, the embedded node started, the app run), headless at 160x50;
- bare: ``import sqlmodel`` and a Textual ``App`` showing one ``Static``, headless.

One warm-up run of each first (the OS file cache; .pyc files written, as an installed
package has them: PYTHONDONTWRITEBYTECODE is dropped for the children). Each child notes (``time.monotonic()``, the same clock in every process on Linux) when
its first screen was painted, and for the console also when the first screen (Schedules)
shows its rows; it then exits. A run is timed from just before the process is spawned.
Medians over the runs. Goal: console first paint <= 2x bare, same run.

Last line: ``{"console_start_ms":…, "console_rows_ms":…, "bare_ms":…, "ratio":…,
"ratio_rows":…}``; ``ratio`` is console_start_ms / bare_ms (the goal's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ------------------------------------------------------------------- the children
# Both patch App.run_async (headless, 160x50) and App._display (note the first paint).
HOOK = """
import json, sys, time
from textual.app import App
from textual._compositor import CompositorUpdate
OUT = sys.argv[1]
_run = App.run_async
_display = App._display
marks = {}

def _note(name):
    if name not in marks:
        marks[name] = time.monotonic()
        with open(OUT, "w") as f:
            json.dump(marks, f)

def display(self, screen, renderable):
    _display(self, screen, renderable)
    if renderable is None or self._batch_count or not isinstance(renderable, CompositorUpdate):
        return
    _note("paint")
    if WANT_ROWS:
        table = next(iter(screen.query("DataTable")), None)
        if table is None or not table.row_count:
            return
        _note("rows")
    self.exit()

async def run_async(self, **options):
    options.update(headless=True, size=(160, 50))
    return await _run(self, **options)

App.run_async = run_async
App._display = display
"""

CONSOLE = (
    HOOK.replace("WANT_ROWS", "True")
    + """
from switchyard.tui.cli import main
sys.argv = ["switchyard", "--db", sys.argv[2]]
main()
"""
)

BARE = (
    HOOK.replace("WANT_ROWS", "False")
    + """
import sqlmodel
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("hello")

Bare().run()
"""
)


def child(code: str, out: Path, *args: str, env: dict[str, str]) -> dict[str, float]:
    out.unlink(missing_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code, str(out), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=120,
        text=True,
    )
    if done.returncode:  # after the first screen (the marks are kept): said, not fatal
        print(f"  (exit {done.returncode}: {done.stderr.strip()[-300:]})", flush=True)
    marks = json.loads(out.read_text())
    return {name: (at - started) * 1000 for name, at in marks.items()}


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sy-console-start-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ, XDG_DATA_HOME=str(tmp / "xdg"), TERM="xterm-256color")
        env.pop("SWITCHYARD_DB", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: the warm-up run writes .pyc
        url = f"sqlite+aiosqlite:///{tmp / 'demo.db'}"
        switchyard = Path(sys.executable).with_name("switchyard")
        subprocess.run(
            [str(switchyard), "--db", url, "demo"], env=env, check=True, capture_output=True
        )
        out = tmp / "marks.json"
        child(CONSOLE, out, url, env=env)  # warm the OS file cache and .pyc files
        child(BARE, out, env=env)
        paints: list[float] = []
        shown: list[float] = []
        bare: list[float] = []
        for n in range(runs):
            console = child(CONSOLE, out, url, env=env)
            paints.append(console["paint"])
            shown.append(console.get("rows", float("nan")))
            bare.append(child(BARE, out, env=env)["paint"])
            print(
                f"run {n + 1:>2}: console first paint {console['paint']:7.0f} ms, rows shown"
                f" {console.get('rows', float('nan')):7.0f} ms; bare {bare[-1]:7.0f} ms",
                flush=True,
            )
    paint, rows, floor = (statistics.median(v) for v in (paints, shown, bare))
    print(f"\n{'median of ' + str(runs) + ' runs':28} {'ms':>8} {'x bare':>8}")
    print(f"{'bare Textual + sqlmodel':28} {floor:8.0f} {1:8.2f}")
    ratio = paint / floor
    met = "met" if ratio <= 2 else "MISSED"
    print(f"{'console: first paint':28} {paint:8.0f} {ratio:8.2f}  goal <= 2x: {met}")
    print(f"{'console: Schedules rows':28} {rows:8.0f} {rows / floor:8.2f}")
    result = {
        "console_start_ms": round(paint, 1),
        "console_rows_ms": round(rows, 1),
        "bare_ms": round(floor, 1),
        "ratio": round(ratio, 3),
        "ratio_rows": round(rows / floor, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (alternating)")
    parser.add_argument("--quick", action="store_true", help="5 runs of each")
    args = parser.parse_args()
    main(5 if args.quick else args.runs)

"""No blocking I/O on the event loop, no silent broad ``except`` (issue 13).

Timing is not a test on a loaded 2-core machine, so the check is static and deterministic
(tests/loop_scan.py, read its docstring for the rules and its limits):

- every ``async def`` in engine/ and tui/ (the console's screens and app share the node's
  loop) is scanned for calls to known blocking functions (``open``, ``Path.read_text`` and
  friends, ``time.sleep``, ``subprocess``, ``os.walk``, ``psutil``, ``shutil``, blocking
  ``socket`` look-ups, ``tomllib.load`` ...), directly or through sync functions of
  engine/, tui/ or store/ that the scan can resolve by name (``f()``, ``module.f()``,
  ``self.method()``, a class's ``__init__``). Calls through other objects
  (``self.engine.x()``) are not followed: that is the scan's limit. Work handed to
  ``asyncio.to_thread`` / ``run_in_executor`` is fine (the scan does not enter nested
  ``def``s and lambdas).
- every ``except Exception`` / ``except BaseException`` / bare ``except:`` in engine/ and
  tui/ re-raises, logs, or uses the caught exception.

The real loop is also watched, without a time limit: one engine scenario (a node runs a
command schedule and a 3-step process with a wait, on SQLite) runs with
``loop.set_debug(True)`` and ``slow_callback_duration = 0.05``; asyncio's "Executing ...
took" warnings are printed with the test's output (``pytest -s``) and never fail it: on a
busy machine any callback can take 50 ms. ``bench/loop_hygiene.py --quick`` reports the
same count as JSON (see bench/README.md).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path

import loop_scan
import pytest

ROOT = Path(__file__).resolve().parents[1]
E = "switchyard.engine"

# Sync functions that touch the OS but are proven cheap; the scan does not follow them.
CHEAP: dict[tuple[str, str], str] = {
    (f"{E}.kernel.nodes", "_start"): (
        "(process_start_time, running_start_time) reads /proc/<pid>/stat of ONE pid and /proc/stat once (procfs: kernel memory, no "
        "disk, tens of µs; psutil only where there is no /proc). The costly psutil use, a "
        "scan of every pid (runs.runner._group_alive), goes through asyncio.to_thread."
    ),
    (f"{E}.runs.runner", "CommandRun._cleanup_files"): (
        "closes the run's log file and unlinks its secret files in /dev/shm (tmpfs); it runs "
        "in except/finally paths, where awaiting a thread could be cancelled and leave a "
        "secret file behind."
    ),
}
# Async functions that run once at start, before the loop has other work.
ONCE: dict[tuple[str, str], str] = {
    (f"{E}.api", "Engine.open"): (
        "opening the engine: resolves the store's path and stats the store file and its "
        "folder (ownership, modes) once, before any node task or screen exists."
    ),
    (f"{E}.reads", "Reader.open"): (
        "opening the CLI's light read path: the same path resolution and stats of the store "
        "file, its folder and key as Engine.open, once, before the command's one query."
    ),
    ("switchyard.tui.app", "run_console_async"): (
        "opens console.log (0600) once, before the console's App runs."
    ),
}


def scan(root: Path = ROOT) -> loop_scan.Scan:
    return loop_scan.Scan(root, cheap=frozenset(CHEAP), once=frozenset(ONCE))


@pytest.fixture(scope="module")
def real() -> loop_scan.Scan:
    return scan()


def test_no_blocking_call_in_async_code(real: loop_scan.Scan) -> None:
    found = real.blocking_in_async()
    assert not found, "blocking calls on the event loop (use asyncio.to_thread):\n" + "\n".join(
        map(str, found)
    )


def test_no_silent_broad_except(real: loop_scan.Scan) -> None:
    found = real.silent_handlers()
    assert not found, "broad handlers that hide the error (log it or narrow it):\n" + "\n".join(
        map(str, found)
    )


def test_the_allow_lists_name_real_functions(real: loop_scan.Scan) -> None:
    """An entry for a function that was renamed or removed would hide nothing: drop it."""
    assert set(CHEAP) <= set(real.sync), set(CHEAP) - set(real.sync)
    assert set(ONCE) <= set(real.async_), set(ONCE) - set(real.async_)
    assert all(len(reason) > 40 for reason in [*CHEAP.values(), *ONCE.values()])


# ------------------------------------------------------------ the scan itself can fail
SAMPLE_ENGINE = """
import asyncio, os, subprocess, time, tomllib
from pathlib import Path
import psutil
from switchyard.engine import helpers
from switchyard.engine.helpers import read_config

class Host:
    def __init__(self, path):
        self.config = tomllib.loads(Path(path).read_text())

    def size(self):
        return os.stat("x").st_size

    def touch(self):  # our own method: not Path.touch
        return 1

    async def refresh(self):
        self.host = Host("config.toml")             # 1: through a class's __init__
        n = self.size()                             # 2: through a method of this class
        self.touch()

async def scan_pids():
    return [p for p in psutil.process_iter()]       # 3

async def good(path: Path):
    text = await asyncio.to_thread(path.read_text)
    data = await asyncio.to_thread(lambda: open(path).read())
    def inner():
        time.sleep(1)
    await asyncio.get_running_loop().run_in_executor(None, inner)
    return text, data

async def bad(path: Path):
    time.sleep(0.1)                                 # 4
    subprocess.run(["true"])                        # 5
    with open(path) as fh:                          # 6
        fh.read()
    path.write_text("x")                            # 7
    read_config()                                   # 8: through a function of another module
    helpers.walk()                                  # 9: module.function
"""
SAMPLE_HELPERS = """
import os
def read_config():
    return _inner()
def _inner():
    with open("c") as fh:
        return fh.read()
def walk():
    return list(os.walk("."))
"""
SAMPLE_HANDLERS = """
import logging
log = logging.getLogger(__name__)
def a():
    try: pass
    except Exception: pass                          # silent
def b():
    try: pass
    except: return None                             # silent
def c():
    try: pass
    except BaseException: x = 1                     # silent
def d():
    try: pass
    except Exception as exc: log.warning("%s", exc)
def e():
    try: pass
    except Exception: raise
def f():
    try: pass
    except Exception as exc: return str(exc)
def g():
    try: pass
    except ValueError: pass
"""


def _tree(tmp_path: Path) -> Path:
    for top in ("engine", "tui", "store"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    (tmp_path / "engine" / "sample.py").write_text(textwrap.dedent(SAMPLE_ENGINE))
    (tmp_path / "engine" / "helpers.py").write_text(textwrap.dedent(SAMPLE_HELPERS))
    (tmp_path / "tui" / "handlers.py").write_text(textwrap.dedent(SAMPLE_HANDLERS))
    return tmp_path


def test_the_scan_finds_blocking_calls_direct_and_one_call_away(tmp_path: Path) -> None:
    found = scan(_tree(tmp_path)).blocking_in_async()
    where = {(f.function, f.line) for f in found}
    src = textwrap.dedent(SAMPLE_ENGINE).splitlines()
    marked = {i + 1 for i, line in enumerate(src) if re.search(r"# \d", line)}
    assert len(marked) == 9
    assert {line for _, line in where} == marked, "\n".join(map(str, found))
    assert not [f for f in found if f.function == "good"]


def test_the_scan_finds_silent_handlers(tmp_path: Path) -> None:
    found = scan(_tree(tmp_path)).silent_handlers()
    assert sorted(f.function for f in found) == ["a", "b", "c"], "\n".join(map(str, found))


# ------------------------------------------------------------ the real loop, watched
def _bench() -> object:
    spec = importlib.util.spec_from_file_location("loop_bench", ROOT / "bench" / "loop_hygiene.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("loop_bench", module)  # dataclasses look their module up
    spec.loader.exec_module(sys.modules["loop_bench"])
    return sys.modules["loop_bench"]


async def test_an_engine_scenario_under_asyncio_debug_mode(tmp_path: Path) -> None:
    """Reports asyncio's slow-callback warnings (> 50 ms); fails only if the scenario's
    work does not complete. The count is load-dependent: see the module docstring."""
    bench = _bench()
    report = await bench.scenario(tmp_path, rounds=2)  # type: ignore[attr-defined]
    assert report.statuses == {"completed": 4}, report.statuses
    print(f"\nslow callbacks (> 50 ms) during the scenario: {report.summary()}")
    for line in report.slow:
        print(f"  {line[:240]}")

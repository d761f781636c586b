"""Helpers of the one-line-errors tests: a seeded SQLite store, a snapshot of the tables a
refused command must not change, the command tree of the real typer app, and the run of
the real `switchyard` binary."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SWITCHYARD = Path(sys.executable).parent / "switchyard"
DOCUMENTED = {0, 2, 3, 4, 5}
WATCHED = (  # what "nothing written" is checked on
    "schedules",
    "lanes",
    "process_definitions",
    "secrets",
    "users",
    "groups",
    "group_members",
    "rights",
    "secspecs",
    "params",
    "saved_filters",
    "work_items",
)

PROCESS = """
process: fuzzed
variables:
  who: {type: string}
start: s
states:
  s:
    actions:
      - assign: {who: "x"}
"""


def seed(tmp_path: Path) -> Path:
    """A real SQLite store with a lane, a schedule, a published process, a secret, a group,
    a user and a secspec: hostile values then meet real rows."""
    from switchyard.engine.api import Engine
    from switchyard.engine.schedule_spec import ScheduleSpec

    db = tmp_path / "store.db"
    definition = tmp_path / "fuzzed.yaml"
    definition.write_text(textwrap.dedent(PROCESS))

    async def go() -> None:
        engine = await Engine.open(str(db), data_dir=tmp_path)
        try:
            await engine.add_lane("l1", 2)
            await engine.add_schedule(
                ScheduleSpec(name="s1", command=["/bin/true"], on_demand=True, lane="l1")
            )
            await engine.publish([definition])
            await engine.set_secret("api_token", "a-long-enough-secret")
            await engine.add_group("g1")
            await engine.add_user("ann", "Ann", "direct", False, [])
            await engine.add_secspec("spec1", ["ann"], [], [])
        finally:
            await engine.close()

    asyncio.run(go())
    return db


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}"))) for t in WATCHED}
    finally:
        conn.close()


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, ...]
    command: Any  # a typer (vendored click) command


def leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[Leaf]:
    subs = getattr(command, "commands", None)
    if subs is None:
        yield Leaf(path, command)
        return
    for name, sub in sorted(subs.items()):
        yield from leaves(sub, (*path, name))


def is_int(param: Any) -> bool:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    text = str(annotation)
    return annotation is int or "int" in text.replace("print", "")


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """The real binary; returns the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SWITCHYARD_DB", None)
    return subprocess.run(
        [str(SWITCHYARD), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )

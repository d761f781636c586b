"""Helpers of the one-line-errors tests: a seeded SQLite store, a snapshot of the tables a
refused command must not change, the command tree of the real typer app, and the run of
the real `switchyard` binary."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, make_url, text

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


def seed(db_url: str, tmp_path: Path) -> None:
    """A real store with a lane, a schedule, a published process, a secret, a group, a user
    and a secspec: hostile values then meet real rows. The data dir is the default one."""
    from switchyard.engine.api import Engine
    from switchyard.engine.schedules.spec import ScheduleSpec

    definition = tmp_path / "fuzzed.yaml"
    definition.write_text(textwrap.dedent(PROCESS))

    async def go() -> None:
        engine = await Engine.open(db_url)
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


def sync_url(db_url: str) -> str:
    url = make_url(db_url)
    driver = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return url.set(drivername=driver).render_as_string(hide_password=False)


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """The watched tables' rows, as text, sorted."""
    with engine.connect() as conn:
        return {
            t: sorted(repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {t}")))
            for t in WATCHED
        }


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

"""An outcome longer than its column (200 characters) is cut to it on both backends; on
PostgreSQL the refused write used to leave the instance ``running`` for ever."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._bounds_helpers import ended, node, publish

pytestmark = pytest.mark.timeout(60)

LONG = """
process: long
start: a
states:
  a:
    actions:
      - end_process: "{{ 'x' * 300 }}"
"""


async def test_a_long_outcome_ends_the_instance(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    async with node(db_url, data_dir) as (engine, _):
        await publish(engine, tmp_path, LONG)
        row = await ended(engine, await engine.start_process("long"))
    assert row["status"] == "completed", row
    assert row["outcome"] == "x" * 199 + "…"

"""Publishing YAML text in tests, and reading an instance's journal."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.store.queries import steps as step_q


async def publish(engine: Engine, tmp_path: Path, text: str, name: str = "p.yaml") -> Any:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return (await engine.publish([path]))[0]


async def journal(engine: Engine, instance_id: int) -> dict[str, dict[str, Any]]:
    async with engine.store.read() as conn:
        return await step_q.journal(conn, instance_id)


async def variables(engine: Engine, instance_id: int) -> dict[str, Any]:
    return (await engine.instance_detail(instance_id)).variables

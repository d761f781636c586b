"""Activities that leave a trace: ``act.sh`` appends ``NAME start`` and ``NAME end`` to a
trace file, and can wait for another activity to have started (a rendezvous that only
two activities running at the same time can pass) or sleep. The order of the lines is the
order in which things happened, so the tests assert on order, never on durations.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from switchyard.engine.api import Engine
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

ACT = r"""#!/bin/sh
# act.sh TRACE NAME [MEET|-] [SLEEP]
T=$1; N=$2; M=${3:--}; S=${4:-0}
echo "$N start" >> "$T"
if [ "$M" != "-" ]; then
  i=0
  until grep -qx "$M start" "$T"; do
    i=$((i+1)); if [ $i -gt 1000 ]; then echo "$N lonely" >> "$T"; exit 1; fi
    sleep 0.01
  done
fi
if [ "$S" != "0" ]; then sleep "$S"; fi
echo "$N end" >> "$T"
"""

VARIABLES = """
variables:
  act: {type: string, required: true}
  trace: {type: string, required: true}
"""


def act(name: str, meet: str = "-", sleep: str = "0") -> str:
    """A ``run`` action for the YAML: the activity ``name``."""
    return (
        f'run: {{command: [sh, "{{{{ act }}}}", "{{{{ trace }}}}", {name}, "{meet}", "{sleep}"]}}'
    )


class Trace:
    def __init__(self, root: Path) -> None:
        self.script = root / "act.sh"
        self.script.write_text(ACT)
        self.file = root / "trace.txt"
        self.file.touch()

    @property
    def vars(self) -> dict[str, Any]:
        return {"act": str(self.script), "trace": str(self.file)}

    def lines(self) -> list[str]:
        return self.file.read_text().split()  # "A start" -> "A", "start"

    def events(self) -> list[str]:
        return [line for line in self.file.read_text().splitlines() if line]

    def at(self, event: str) -> int:
        return self.events().index(event)

    def count(self, event: str) -> int:
        return self.events().count(event)

    def started(self) -> list[str]:
        return [e.split()[0] for e in self.events() if e.endswith(" start")]

    async def until(self, event: str, within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while event not in self.events():
            if loop.time() > deadline:
                raise AssertionError(f"{event!r} never happened: {self.events()}")
            await asyncio.sleep(0.02)


def expand(text: str) -> str:
    """``ACT(A)``, ``ACT(A, B)`` (meet B), ``ACT(A, -, 0.5)`` (sleep) -> a ``run`` action."""

    def one(m: re.Match[str]) -> str:
        return act(*[p.strip() for p in m.group(1).split(",")])  # type: ignore[arg-type]

    return re.sub(r"ACT\(([^)]*)\)", one, textwrap.dedent(text))


async def publish(engine: Engine, root: Path, text: str) -> None:
    text = expand(text)
    name = text.split("process:", 1)[1].split()[0]
    path = root / f"{name}.yaml"
    path.write_text(text.lstrip(), encoding="utf-8")
    await engine.publish([path])

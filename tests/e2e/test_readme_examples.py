"""The README's "Using it" examples run in order, as written, against a fresh store with the
real binary: a new user's machine (its own XDG folders, `$TOKEN` set, no SWITCHYARD_*
variables). Only the lines below are skipped, each for its reason; a skip that no longer
matches a README line fails the test, so the list cannot go stale."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from e2e.conftest import SWITCHYARD

README = Path(__file__).resolve().parents[2] / "README.md"
#: a README line (its command, without the comment) -> why it is not run here
SKIPS = {
    "switchyard": "opens the console: interactive, runs until quit (tests/tui drive it)",
    "switchyard serve": "a long-running serve node (tests/e2e/test_serve.py drives it)",
}
NEEDS_NETWORK: dict[str, str] = {}  # none of the examples needs a network today


def using_it_lines(text: str) -> list[str]:
    """The command lines of the ```sh blocks of the "Using it" section, in order."""
    section = text.split("\n## Using it\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "no ```sh block in the README's Using it section"
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def command_of(line: str) -> str:
    """The line without its trailing comment (`  # ...`)."""
    return re.split(r"\s+#\s", line, maxsplit=1)[0].strip()


@pytest.mark.slow
def test_the_readme_examples_run_in_order(tmp_path: Path) -> None:
    lines = using_it_lines(README.read_text(encoding="utf-8"))
    commands = [command_of(line) for line in lines]
    skips = {**SKIPS, **NEEDS_NETWORK}
    assert set(skips) <= set(commands), f"stale skips: {set(skips) - set(commands)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
    env.update(
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PATH=f"{SWITCHYARD.parent}{os.pathsep}{env.get('PATH', '')}",
        TOKEN="a-token-from-the-environment",
        TZ="UTC",
    )
    work = tmp_path / "work"
    work.mkdir()
    ran: list[str] = []
    for line, command in zip(lines, commands, strict=True):
        if command in skips:
            continue
        assert command.startswith(("switchyard ", "printf ")), line
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0 or "error:" in proc.stderr:
            pytest.fail(
                f"README line {len(ran) + 1} failed ({proc.returncode}): {line}\n"
                f"after: {ran[-3:]}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr}"
            )
        ran.append(command)
    assert len(ran) == len(commands) - len(skips)
    # what the walk-through left behind reads as the README says
    listed = subprocess.run(
        [str(SWITCHYARD), "schedule", "list"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "after nightly" in listed and "once" not in listed.split()

"""The process API's door: publishing is all or nothing, validation reports every file's
problems, and starts, retries and skips refuse what they cannot do — naming why."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import instance_rows, wait_status
from engine.process.helpers import publish, variables
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.node.runtime import Runtime

StartRuntime = Callable[..., Awaitable[Runtime]]

GOOD = """
process: good
variables:
  n: {type: integer, default: 1}
start: s
states:
  s:
    actions:
      - assign: {n: "{{ n + 1 }}"}
"""

BAD = """
process: bad
start: s
states:
  s:
    actions:
      - assign: {nope: 1}
"""

ALSO_BAD = """
process: also_bad
start: missing
states:
  s:
    actions:
      - frobnicate: {x: 1}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


async def test_a_bad_file_published_with_a_good_one_publishes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    good = _write(tmp_path, "good.yaml", GOOD)
    bad = _write(tmp_path, "bad.yaml", BAD)
    for paths in ([good, bad], [bad, good]):
        with pytest.raises(DefinitionError) as caught:
            await engine.publish(paths)
        assert [Path(i.file).name for i in caught.value.issues] == ["bad.yaml"]
        issue = caught.value.issues[0]
        assert issue.path == "states.s.actions[0].assign" and issue.line == 6
        assert "nope" in issue.message
        assert await engine.processes() == []
    with pytest.raises(NotFound):
        await engine.start_process("good")


async def test_a_bad_new_version_leaves_the_published_one_in_place(
    engine: Engine, tmp_path: Path
) -> None:
    first = await publish(engine, tmp_path, GOOD, name="good.yaml")
    assert (first.version, first.changed) == (1, True)
    broken = _write(tmp_path, "good.yaml", GOOD.replace("n + 1", "n +"))
    with pytest.raises(DefinitionError):
        await engine.publish([broken, _write(tmp_path, "other.yaml", GOOD.replace("good", "o"))])
    assert [(p.name, p.version, p.versions) for p in await engine.processes()] == [("good", 1, 1)]
    detail = await engine.process("good")
    assert "n + 1" in detail.source


async def test_validate_files_reports_the_issues_of_every_file(
    engine: Engine, tmp_path: Path
) -> None:
    paths = [
        _write(tmp_path, "bad.yaml", BAD),
        _write(tmp_path, "good.yaml", GOOD),
        _write(tmp_path, "also_bad.yaml", ALSO_BAD),
    ]
    with pytest.raises(DefinitionError) as caught:
        await engine.validate_files(paths)
    files = {Path(i.file).name for i in caught.value.issues}
    assert files == {"bad.yaml", "also_bad.yaml"}
    assert len([i for i in caught.value.issues if i.file.endswith("also_bad.yaml")]) >= 2
    text = str(caught.value)
    assert "frobnicate" in text and "missing" in text
    assert await engine.processes() == []
    assert [d.name for d in await engine.validate_files(paths[1:2])] == ["good"]


async def test_publishing_a_missing_file_or_one_process_twice_publishes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    good = _write(tmp_path, "good.yaml", GOOD)
    with pytest.raises(SwitchyardError, match=r"nowhere\.yaml"):
        await engine.publish([good, tmp_path / "nowhere.yaml"])
    twin = _write(tmp_path, "twin.yaml", GOOD.replace("n + 1", "n + 2"))
    with pytest.raises(SwitchyardError, match="defined twice"):
        await engine.publish([good, twin])
    assert await engine.processes() == []


PING = """
process: ping   # starts pong
start: s
states:
  s:
    actions:
      - start_process: {process: pong, wait: false}
"""

PONG = """
process: "pong"
start: s
states:
  s:
    actions:
      - if: "false"
        then:
          - start_process: {process: ping, wait: false}
      - log: pong
"""


async def test_processes_published_together_may_start_each_other(
    engine: Engine, tmp_path: Path
) -> None:
    results = await engine.publish(
        [_write(tmp_path, "ping.yaml", PING), _write(tmp_path, "pong.yaml", PONG)]
    )
    assert sorted(r.name for r in results) == ["ping", "pong"]


async def test_starts_refuse_unknown_processes_versions_lanes_and_values(
    engine: Engine, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, GOOD)
    with pytest.raises(NotFound, match="nosuch"):
        await engine.start_process("nosuch")
    with pytest.raises(NotFound, match="version 7"):
        await engine.start_process("good", version=7)
    with pytest.raises(SwitchyardError, match="unknown lane 'fast'"):
        await engine.start_process("good", lane="fast")
    with pytest.raises(SwitchyardError, match="n"):
        await engine.start_process("good", {"n": "many"})
    assert await instance_rows(engine) == []


FAILING = """
process: failing
variables:
  limit: {type: integer, default: 0}
start: s
states:
  s:
    actions:
      - if: "limit < 3"
        then:
          - raise: "too low"
"""


async def test_retry_and_skip_refuse_what_is_not_in_error_and_bad_edits(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, GOOD)
    await publish(engine, tmp_path, FAILING, name="f.yaml")
    await runtime(engine)
    done = await engine.start_process("good")
    await wait_status(engine, done, "completed")
    for operation in (engine.retry, engine.skip):
        with pytest.raises(Conflict, match="completed"):
            await operation(done)
        with pytest.raises(NotFound):
            await operation(987654)
    failed = await engine.start_process("failing")
    await wait_status(engine, failed, "error")
    with pytest.raises(SwitchyardError, match="colour: unknown variable"):
        await engine.retry(failed, {"colour": "red"})
    with pytest.raises(SwitchyardError, match="limit"):
        await engine.retry(failed, {"limit": "lots"})
    row = await wait_status(engine, failed, "error")  # nothing changed
    assert (await variables(engine, failed))["limit"] == 0
    assert row["error_step"] == "0:s/0/then/0"
    kinds = [h.kind for h in (await engine.instance_detail(failed)).history]
    assert "retry" not in kinds

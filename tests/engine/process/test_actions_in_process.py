"""Side-effect actions inside running instances: retries of a real flaky command, commands
that cannot start or time out, HTTP and SMTP against real local servers, SQL on a real
database — each journaled as one step."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.actions.conftest import HttpServer, SmtpServer, http_server, smtp_server
from engine.helpers import wait_status
from engine.process.helpers import journal, publish, variables
from engine.process.tools import group_alive, kill_group, read_pid
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.node.runtime import Runtime

__all__ = ["http_server", "smtp_server"]  # fixtures shared with the action tests

StartRuntime = Callable[..., Awaitable[Runtime]]

FLAKY = """
process: flaky
variables:
  counter: {type: string, required: true}
start: s
states:
  s:
    actions:
      - run:
          command: [sh, -c, 'n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1"; echo "try $n"; [ $n -ge 3 ]', flaky, "{{ counter }}"]
        retry: RETRY
      - end_process: "made it"
"""


async def test_retry_runs_a_flaky_command_until_it_succeeds(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    # `retry: 3` is "attempts, no backoff": documented as retrying at once
    await publish(engine, tmp_path, FLAKY.replace("RETRY", "3"))
    await runtime(engine)
    counter = tmp_path / "count"
    started = time.monotonic()
    instance_id = await engine.start_process("flaky", {"counter": str(counter)})
    row = await wait_status(engine, instance_id, "completed", "error")
    elapsed = time.monotonic() - started
    assert row["status"] == "completed", row["reason"]
    assert row["outcome"] == "made it"
    assert counter.read_text().strip() == "3"
    log = await engine.log(instance_id)
    assert sum("retrying" in line for line in log) == 2
    assert [line[-5:] for line in log if "try " in line] == ["try 1", "try 2", "try 3"]
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["status"] == "done"
    assert steps["0:s/0"]["note"] == "exit 0"
    assert elapsed < 2.5, f"retry without backoff took {elapsed:.1f}s"


async def test_retry_gives_up_after_its_attempts_and_says_so(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, FLAKY.replace("RETRY", "{attempts: 2, backoff: 1s}"))
    await runtime(engine)
    counter = tmp_path / "count"
    instance_id = await engine.start_process("flaky", {"counter": str(counter)})
    row = await wait_status(engine, instance_id, "error", "completed")
    assert row["status"] == "error"
    assert "after 2 attempts" in row["reason"]
    assert "exit code 1" in row["reason"]
    assert counter.read_text().strip() == "2"
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["status"] == "error"
    assert "after 2 attempts" in steps["0:s/0"]["error"]
    # the operator retries: one more attempt budget, and the third try succeeds
    await engine.retry(instance_id)
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert counter.read_text().strip() == "3"


NOT_THERE = """
process: missing
start: s
states:
  s:
    actions:
      - run: {command: [/nonexistent/switchyard-test-binary]}
        retry: 5
"""


async def test_a_command_that_cannot_start_is_not_retried(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, NOT_THERE)
    await runtime(engine)
    instance_id = await engine.start_process("missing")
    row = await wait_status(engine, instance_id, "error", "completed")
    assert row["status"] == "error"
    assert "cannot start" in row["reason"]
    assert row["reason"].count("cannot start") == 1  # said once, with the path
    assert "/nonexistent/switchyard-test-binary: No such file or directory" in row["reason"]
    assert "[Errno" not in row["reason"]
    assert "attempts" not in row["reason"]
    assert not any("retrying" in line for line in await engine.log(instance_id))


TIMEOUT = """
process: slow
variables:
  dir: {type: string, required: true}
start: s
states:
  s:
    actions:
      - run:
          command: [sh, -c, "echo $$ > {{ dir }}/slow.pid; sleep 30 & wait"]
          timeout: 1s
"""


async def test_a_command_over_its_timeout_is_killed_with_its_group(
    engine: Engine, runtime: StartRuntime, tmp_path: Path
) -> None:
    await publish(engine, tmp_path, TIMEOUT)
    await runtime(engine, kill_grace=0.5)
    instance_id = await engine.start_process("slow", {"dir": str(tmp_path)})
    group = await read_pid(tmp_path / "slow.pid")
    try:
        row = await wait_status(engine, instance_id, "error", "completed", within=5)
        assert row["status"] == "error"
        assert "tim" in row["reason"].lower()
        assert not group_alive(group)
    finally:
        kill_group(group)


HTTP = """
process: caller
variables:
  base: {type: string, required: true}
  item: {type: integer}
  name: {type: string}
start: s
states:
  s:
    actions:
      - http: {url: "{{ base }}/json", into: {item: "response.json.id", name: "response.json.name"}}
      - http: {url: "{{ base }}/status/503"}
        retry: 3
"""


async def test_http_maps_its_response_and_a_5xx_is_retried_then_fails(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, http_server: HttpServer
) -> None:
    await publish(engine, tmp_path, HTTP)
    await runtime(engine)
    instance_id = await engine.start_process("caller", {"base": http_server.base})
    row = await wait_status(engine, instance_id, "error", "completed")
    assert row["status"] == "error"
    assert "HTTP 503" in row["reason"] and "after 3 attempts" in row["reason"]
    assert [r["path"] for r in http_server.requests] == ["/json", *["/status/503"] * 3]
    assert await variables(engine, instance_id) == {
        "base": http_server.base,
        "item": 42,
        "name": "widget",
    }
    steps = await journal(engine, instance_id)
    assert steps["0:s/0"]["note"] == "HTTP 200"
    assert steps["0:s/1"]["status"] == "error"


EMAIL = """
process: mailer
variables:
  who: {type: string, required: true}
start: s
states:
  s:
    actions:
      - email: {to: "{{ who }}", subject: "hello {{ who }}", body: "instance {{ instance.id }}"}
"""


async def test_email_goes_through_the_nodes_smtp_server(
    engine: Engine,
    runtime: StartRuntime,
    tmp_path: Path,
    smtp_server: SmtpServer,
    data_dir: Path,
) -> None:
    (data_dir / "config.toml").write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}\nfrom = "sy@example.com"\n'
    )
    await publish(engine, tmp_path, EMAIL)
    await runtime(engine)
    instance_id = await engine.start_process("mailer", {"who": "ann@example.com"})
    row = await wait_status(engine, instance_id, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    assert len(smtp_server.envelopes) == 1
    envelope = smtp_server.envelopes[0]
    assert envelope.rcpt_tos == ["ann@example.com"]
    content = envelope.content.decode() if isinstance(envelope.content, bytes) else ""
    assert "hello ann@example.com" in content
    assert f"instance {instance_id}" in content
    assert (await journal(engine, instance_id))["0:s/0"]["note"] == "sent to 1 recipient(s)"


SQL = """
process: counter_sql
variables:
  label: {type: string, required: true}
  inserted: {type: integer}
  row: {type: map}
start: s
states:
  s:
    actions:
      - sql: {connection: side, query: "CREATE TABLE IF NOT EXISTS t (label TEXT)"}
      - sql: {connection: side, query: "INSERT INTO t (label) VALUES (:l)", params: {l: "{{ label }}"}, into: inserted}
      - sql: {connection: side, query: "SELECT count(*) AS n, max(label) AS label FROM t", one: true, into: row}
"""


async def test_sql_binds_variables_and_maps_rows(
    engine: Engine, runtime: StartRuntime, tmp_path: Path, data_dir: Path
) -> None:
    side = tmp_path / "side.db"
    (data_dir / "config.toml").write_text(f'[sql.connections]\nside = "sqlite:///{side}"\n')
    await publish(engine, tmp_path, SQL)
    await runtime(engine)
    first = await engine.start_process("counter_sql", {"label": "x'); DROP TABLE t; --"})
    row = await wait_status(engine, first, "completed", "error")
    assert row["status"] == "completed", row["reason"]
    found = await variables(engine, first)
    assert found["inserted"] == 1
    assert found["row"] == {"n": 1, "label": "x'); DROP TABLE t; --"}


SECURED_EMAIL = """
process: payslip
variables:
  who: {type: string, required: true}
  iban: {type: string, security: payroll}
start: s
states:
  s:
    actions:
      - email: {to: "{{ who }}", subject: "pay to {{ iban }}", body: "account {{ iban }} for {{ who }}"}
"""


async def test_an_email_never_carries_a_secured_value(
    engine: Engine, tmp_path: Path, data_dir: Path
) -> None:
    """Mail leaves Switchyard: an email that reads a secured variable is not published
    (engine/definitions/flow.py); masking of mail text stays as defence in depth."""
    await engine.add_secspec("payroll", users=[engine.login])
    with pytest.raises(DefinitionError) as caught:
        await publish(engine, tmp_path, SECURED_EMAIL)
    shown = str(caught.value)
    assert "states.s.actions[0].email.subject: iban is secured by 'payroll'" in shown
    assert "states.s.actions[0].email.body: iban is secured by 'payroll'" in shown

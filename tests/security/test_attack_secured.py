"""Attacks on secured variables as a non-member (issue 11, section 4): routes to a secured
value that the publish-time flow check and the masker were meant to close."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from security._secrets_helpers import OpenEngine, finished, open_engine, publish, until
from switchyard.engine.definitions import parse_definition
from switchyard.engine.definitions.model import DefinitionError
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.engine.views import to_json

__all__ = ["open_engine"]

IBAN = "DE12ATTACK0MARK9931"

V1 = """
process: pay
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - end_process: done
"""

V2 = """
process: pay
variables:
  iban: {type: string}
start: a
states:
  a:
    actions:
      - end_process: done
"""


async def test_a_newer_version_dropping_the_spec_does_not_open_old_instances_to_filters(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """`--var 'iban contains …'` is refused to a non-member when the newest version of the
    process secures iban. An older version's instances hold secured values too: a newer
    version without the spec (or without the variable) must not make them a guessing tool."""
    root = await open_engine()
    await root.add_user("ops", licence="monitor")
    await root.add_user("fin", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await publish(root, tmp_path, V1)
    await root.grant("pay", "ops", view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]
    old = await root.start_process("pay", {"iban": IBAN})
    assert (await finished(root, old))["status"] == "completed"
    await publish(root, tmp_path, V2)
    ops = await open_engine(user="ops")
    probe = MonitorFilter(processes=["pay"], variables=["iban contains DE12ATTACK"])
    with pytest.raises(SwitchyardError, match="may not filter on iban"):
        await ops.monitor(probe)


IMPLICIT = """
process: x
variables:
  iban: {type: string, security: finance}
  leak: {type: string, default: ""}
start: a
states:
  a:
    actions:
      - loop:
          for_each: "range(20)"
          as: k
          do:
            - loop:
                for_each: "'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'"
                as: ch
                do:
                  - if: "iban[k] == ch"
                    then: [assign: {leak: "{{ leak ~ ch }}"}]
"""


@pytest.mark.xfail(
    strict=True,
    reason="hole left: implicit flow. A condition may read a secured value ('one bit'), "
    "and what its branches assign is not tainted by it: inside loops the bits add up to "
    "the whole value, copied into an ordinary variable (or log lines)",
)
def test_assignments_guarded_by_a_secured_condition_are_secured_like_it() -> None:
    with pytest.raises(DefinitionError, match="iban is secured by 'finance'"):
        parse_definition(IMPLICIT, "x.yaml")


QUOTED = """
process: probe
variables:
  iban: {type: string, security: finance}
  m: {type: map, default: {}}
start: a
states:
  a:
    actions:
      - if: "m[iban[4:]] == 1"
        then: [end_process: odd]
      - end_process: done
"""


async def test_an_error_message_does_not_quote_part_of_a_secured_value(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """A condition may read a secured value; when it fails, Jinja's message quoted the key
    it looked up ("'dict object' has no attribute 'ATTACK0MARK9931'"): a part of the value,
    which the masker (whole values only) let through to every viewer of the reason."""
    root = await open_engine()
    await root.add_user("ops", licence="monitor")
    await root.add_user("fin", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await publish(root, tmp_path, QUOTED)
    await root.grant("probe", "ops", view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]
    instance = await root.start_process("probe", {"iban": IBAN})
    row = await finished(root, instance)
    assert row["status"] == "error"
    assert "has no attribute" in row["reason"]
    ops = await open_engine(user="ops")
    shown = json.dumps(to_json(await ops.instance_detail(instance)))
    shown += "\n".join(await ops.log(instance))
    shown += json.dumps([to_json(e) for e in await ops.event_log()])
    assert IBAN[4:] not in shown
    assert IBAN[4:] not in row["reason"]  # not even in the store's own text


SQL_CAST = """
process: cast
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - sql: {connection: erp, query: "select cast(:x as integer)", params: {x: "{{ iban[4:] }}"}}
      - end_process: done
"""


async def test_a_database_error_does_not_quote_part_of_a_secured_value(
    open_engine: OpenEngine, db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    """SQL params may read a secured value; PostgreSQL's error quotes the parameter it
    could not cast (invalid input syntax for type integer: "ATTACK0MARK9931"): a part of
    the value the masker does not know, in the reason every viewer reads."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite's messages do not quote values")
    (data_dir / "config.toml").write_text(f'[sql.connections]\nerp = "{db_url}"\n')
    root = await open_engine()
    await root.add_user("ops", licence="monitor")
    await root.add_user("fin", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await publish(root, tmp_path, SQL_CAST)
    await root.grant("cast", "ops", view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]
    instance = await root.start_process("cast", {"iban": IBAN})
    row = await finished(root, instance)
    assert row["status"] == "error"
    ops = await open_engine(user="ops")
    shown = json.dumps(to_json(await ops.instance_detail(instance)))
    shown += "\n".join(await ops.log(instance))
    assert "integer" in shown  # the error is there, its value is not
    assert IBAN[4:] not in shown


HEADER = """
process: hdr
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - http: {url: "http://127.0.0.1:PORT/", headers: {X-Account: "{{ iban[4:] }} "}}
      - end_process: done
"""


@pytest.fixture
def http_port() -> Iterator[int]:
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def test_an_http_error_does_not_quote_part_of_a_secured_value(
    open_engine: OpenEngine, tmp_path: Path, http_port: int
) -> None:
    """Headers may carry a secured value; one that HTTP refuses (a trailing space, a line
    break) failed with "Illegal header value b'ATTACK0MARK9931 '", in the reason."""
    root = await open_engine()
    await root.add_user("ops", licence="monitor")
    await root.add_user("fin", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await publish(root, tmp_path, HEADER.replace("PORT", str(http_port)))
    await root.grant("hdr", "ops", view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]
    instance = await root.start_process("hdr", {"iban": IBAN})
    row = await finished(root, instance)
    assert row["status"] == "error"
    ops = await open_engine(user="ops")
    shown = json.dumps(to_json(await ops.instance_detail(instance)))
    shown += "\n".join(await ops.log(instance))
    assert "Illegal header value" in shown
    assert IBAN[4:] not in shown


CHILD = f"""
process: kyc
variables:
  iban: {{type: string, security: finance, default: {IBAN}}}
start: a
states:
  a:
    actions:
      - end_process: checked
"""

PARENT = """
process: onboard
variables:
  copy: {type: string}
start: a
states:
  a:
    actions:
      - start_process: {process: kyc, vars: {}, wait: true, into: {copy: iban}}
      - end_process: done
"""


async def test_a_childs_secured_variable_does_not_flow_into_an_unsecured_parent_variable(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """`start_process ... into: {copy: iban}` copied the child's secured iban into the
    parent's ordinary variable, shown to every viewer of the parent (and searchable)."""
    root = await open_engine()
    await root.add_user("ops", licence="monitor")
    await root.add_user("fin", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await publish(root, tmp_path, CHILD, "kyc.yaml")
    try:
        await publish(root, tmp_path, PARENT, "onboard.yaml")
    except DefinitionError as exc:  # refused at publish: the child's spec is known
        assert "iban is secured by 'finance'" in str(exc)
        return
    await root.grant("onboard", "ops", view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]
    # (the child's value comes from its default here; a form or a task would do the same)
    parent = await root.start_process("onboard", {})

    async def ended() -> dict[str, Any] | None:
        row = await finished(root, parent)
        return row if row["status"] != "waiting" else None

    row = await until(ended, "the parent to end")
    assert row["status"] == "error"
    assert "the child's iban is secured by 'finance'" in row["reason"]
    ops = await open_engine(user="ops")
    shown = json.dumps(to_json(await ops.instance_detail(parent)))
    assert IBAN not in shown
    assert IBAN not in json.dumps(row["variables"])  # not copied in clear at all

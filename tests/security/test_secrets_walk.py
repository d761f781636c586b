"""The marker walk (issue 11, section 7, for secrets and secured values): a secret and a
secured value with unique markers go through every action kind that may legally use them
(assign into the spec, a task, a condition, a loop, run env, HTTP header and body, SQL
params, SMTP password, a work item form) and through every error path (a failing command,
an HTTP 500, an unreachable host, a bad SQL statement, a raise), then every surface is read
as a member of the spec and as an outsider: the CLI's text and JSON of `instances`,
`instance show`, `log`, `events`, `workitems`, `workitem show`, `audit`; the log files; the
store's own bytes (SQLite file and WAL, or every PostgreSQL row); the mail sent.

The secret appears nowhere but where it was sent (the HTTP header, the SMTP login, a
command's environment). The secured value appears only to the member, in its variables and
work item field, and in the HTTP body / SQL row it was sent to; never in a log."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from security._secrets_helpers import Cli, OpenEngine, finished, open_engine, store_dump
from switchyard.engine.views import to_json

__all__ = ["open_engine"]

SECRET = "sekret-MARK-7c1e9a44f0"
SMTP_PASSWORD = "smtp-MARK-pass-3b8d21"
IBAN = "DE77SECURED0MARK4451"

WALK = """
process: walk
variables:
  iban: {type: string, security: finance, report: true}
  iban_copy: {type: string, security: finance}
  echoed: {type: map, security: finance}
  status: {type: integer}
  who: {type: string, default: ann}
  decision: {type: string, report: true}
start: a
tasks:
  keep:
    inputs:
      v: {type: string, security: finance}
    outputs:
      out: {type: string, security: finance}
    actions:
      - assign: {out: "{{ v | upper }}"}
states:
  a:
    actions:
      - assign: {iban_copy: "{{ iban }}"}
      - call: {task: keep, with: {v: "{{ iban }}"}, into: {iban_copy: out}}
      - if: "iban.startswith('DE')"
        then: [log: "a German account"]
      - loop: {for_each: "[iban, iban_copy]", as: i, do: [assign: {iban_copy: "{{ i }}"}]}
      - run:
          command: ["sh", "-c", "echo token=$TOKEN; echo iban=$IBAN; echo $TOKEN | rev; echo err $IBAN >&2"]
          env: {TOKEN: "{{ secret.api_token }}", IBAN: "{{ iban }}"}
      - http:
          method: POST
          url: "http://127.0.0.1:HTTP_PORT/echo"
          headers: {Authorization: "Bearer {{ secret.api_token }}"}
          json: {iban: "{{ iban }}"}
          into: {echoed: "response.json"}
      - http: {url: "http://127.0.0.1:HTTP_PORT/ok", into: {status: "response.status"}}
      - sql: {connection: erp, query: "insert into payments values (:iban)", params: {iban: "{{ iban }}"}}
      - email: {to: "ann@example.com", subject: "walk for {{ who }}", body: "instance {{ instance.id }}"}
      - send_work_item: {form: review, to: {user: fin}}
      - change_state: b
  b:
    actions:
      - end_process: walked
forms:
  review:
    fields: [who, iban]
    buttons:
      Done: [assign: {decision: done}, change_state: b]
"""

FAIL = """
process: fail
variables:
  iban: {type: string, security: finance}
  mode: {type: string}
start: a
states:
  a:
    actions:
      - switch: mode
        cases:
          run:
            - run:
                command: ["sh", "-c", "echo $TOKEN; echo $IBAN >&2; exit 3"]
                env: {TOKEN: "{{ secret.api_token }}", IBAN: "{{ iban }}"}
          http500:
            - http:
                method: POST
                url: "http://127.0.0.1:HTTP_PORT/fail"
                headers: {X-Token: "{{ secret.api_token }}"}
                json: {iban: "{{ iban }}"}
          down:
            - http:
                method: POST
                url: "http://127.0.0.1:1/down"
                headers: {X-Token: "{{ secret.api_token }}"}
                body: "{{ iban }}"
          sql:
            - sql: {connection: erp, query: "insert into nosuch values (:iban)", params: {iban: "{{ iban }}"}}
          raise:
            - raise: "payment refused for {{ mode }}"
"""
MODES = ("run", "http500", "down", "sql", "raise")


class _Echo(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status = 500 if self.path == "/fail" else 200
        payload = json.dumps({"got": json.loads(body)} if body else {"ok": True}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_echo() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Echo", (_Echo,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword)
        if ok:
            self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=ok and data.password.decode() == SMTP_PASSWORD)


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        authenticator=box.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@pytest.mark.timeout(300)  # ~20 real CLI start-ups on a shared machine
async def test_the_markers_appear_only_where_allowed(
    open_engine: OpenEngine,
    db_url: str,
    data_dir: Path,
    tmp_path: Path,
    http_echo: tuple[int, list[dict[str, Any]]],
    smtp: tuple[int, _Mailbox],
) -> None:
    http_port, requests = http_echo
    smtp_port, mailbox = smtp
    erp = tmp_path / "erp.db"
    with sqlite3.connect(erp) as conn:
        conn.execute("create table payments (iban text)")
    (data_dir / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [smtp]
            host = "127.0.0.1"
            port = {smtp_port}
            username = "switchyard"
            password_secret = "smtp_password"
            from = "sy@example.com"

            [sql.connections]
            erp = "sqlite+aiosqlite:///{erp}"
            """
        )
    )
    root = await open_engine()
    await root.set_secret("api_token", SECRET)
    await root.set_secret("smtp_password", SMTP_PASSWORD)
    await root.add_user("fin", licence="monitor")
    await root.add_user("ops", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    for name, text in (("walk", WALK), ("fail", FAIL)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text.replace("HTTP_PORT", str(http_port)).lstrip(), encoding="utf-8")
        await root.publish([path])
        for login in ("fin", "ops"):
            await root.grant(name, login, view=True)
    await open_engine.node(root)  # type: ignore[attr-defined]

    walk = await root.start_process("walk", {"iban": IBAN})
    failed = [await root.start_process("fail", {"iban": IBAN, "mode": m}) for m in MODES]
    row = await finished(root, walk)
    assert row["status"] == "waiting", row["reason"]
    fin = await open_engine(user="fin")
    (item,) = [i.id for i in (await fin.work_items()).rows]
    await fin.claim_work_item(item)
    await fin.complete_work_item(item, "Done", {})
    for instance_id in (walk, *failed):
        row = await finished(root, instance_id)
    rows = {i: await finished(root, i) for i in (walk, *failed)}
    assert rows[walk]["status"] == "completed", rows[walk]["reason"]
    assert all(rows[i]["status"] == "error" for i in failed), [rows[i]["reason"] for i in failed]

    # the sinks got what they were given
    echo = next(r for r in requests if r["path"] == "/echo")
    assert echo["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(echo["body"]) == {"iban": IBAN}
    assert ("switchyard", SMTP_PASSWORD) in mailbox.logins
    with sqlite3.connect(erp) as conn:
        assert conn.execute("select iban from payments").fetchall() == [(IBAN,)]

    # every surface, as the member and as an outsider
    cli = Cli(db_url, data_dir)
    gate = asyncio.Semaphore(4)

    async def read(*args: str) -> str:
        async with gate:
            proc = await cli(*args)
        return proc.stdout + proc.stderr

    run_failed = failed[MODES.index("run")]
    outsider = [
        ["--as", "ops", *a]
        for a in (
            ["instances"],
            ["instances", "--json"],
            ["instance", "show", str(walk)],
            ["instance", "show", str(walk), "--json"],
            ["log", str(walk)],
            ["log", str(run_failed)],
            *(["instance", "show", str(i), "--json"] for i in failed),
            ["events", "--json"],
            ["workitems", "--all", "--closed", "--json"],
            ["workitem", "show", str(item), "--json"],
        )
    ]
    member = [
        ["--as", "fin", "instance", "show", str(walk), "--json"],
        ["--as", "fin", "workitem", "show", str(item), "--json"],
    ]
    admin = [["audit", "--json"], ["events"]]
    texts = await asyncio.gather(*(read(*a) for a in outsider + member + admin))
    seen = dict(zip([" ".join(a) for a in outsider + member + admin], texts, strict=True))
    leaks = {
        where: marker
        for where, text in seen.items()
        for marker in (SECRET, SECRET[::-1], SECRET.upper(), SMTP_PASSWORD)
        if marker in text
    }
    assert leaks == {}
    assert {w for w, t in seen.items() if IBAN in t and w.startswith("--as ops")} == set()
    ops = await open_engine(user="ops")
    for i in (walk, *failed):  # the same views the console shows, every instance
        shown = json.dumps(to_json(await ops.instance_detail(i))) + "\n".join(await ops.log(i))
        for marker in (SECRET, SECRET[::-1], IBAN, SMTP_PASSWORD):
            assert marker not in shown, (i, marker)
    member_show = seen[f"--as fin instance show {walk} --json"]
    assert json.loads(member_show)["variables"]["iban"] == IBAN  # the member sees it
    assert IBAN in seen[f"--as fin workitem show {item} --json"]
    assert "****" in seen[f"--as ops instance show {walk} --json"]

    # log files hold neither marker (for anyone); the store never holds the secret
    logs = "".join(p.read_text(errors="replace") for p in (data_dir / "logs").rglob("*.log"))
    assert "token=****" in logs and "iban=****" in logs
    for marker in (SECRET, SECRET[::-1], IBAN, SMTP_PASSWORD):
        assert marker not in logs, marker
    dump = await store_dump(root, db_url, data_dir)
    for marker in (SECRET, SECRET[::-1], SMTP_PASSWORD):
        assert marker.encode() not in dump, marker
    # the mail carries neither
    (envelope,) = mailbox.envelopes
    content = envelope.content if isinstance(envelope.content, bytes) else b""
    assert b"walk for ann" in content
    for marker in (SECRET, IBAN, SMTP_PASSWORD):
        assert marker.encode() not in content, marker

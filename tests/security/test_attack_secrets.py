"""Attacks on secrets (issue 11, section 4) by a hostile process designer: routes by which
a secret's value reaches text that others can read, past the publish-time flow check
(engine/definitions/flow.py) and the masker (engine/people/masking.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from security._secrets_helpers import OpenEngine, finished, open_engine, publish, store_dump

__all__ = ["open_engine"]

SECRET = "zz-TOKEN-4f1d9b07c2e8"


class _EchoHeader(BaseHTTPRequestHandler):
    """Answers with the request's X-Token header in the body: an echo service, or one the
    designer runs."""

    def do_GET(self) -> None:
        payload = json.dumps({"token": self.headers.get("X-Token", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeader)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


ECHO = """
process: echo
variables:
  got: {type: string}
start: a
states:
  a:
    actions:
      - http:
          url: "http://127.0.0.1:PORT/"
          headers: {X-Token: "{{ secret.api_token }}"}
          into: {got: "INTO"}
      - end_process: done
"""


@pytest.mark.parametrize(
    "into",
    [
        pytest.param("response.json.token", id="as-is"),
        pytest.param("response.json.token | upper", id="upper"),
        pytest.param(
            "response.json.token[1:]",
            id="all-but-one-char",
            marks=pytest.mark.xfail(
                strict=True,
                reason="hole left: a secret sent in an HTTP header and echoed by the "
                "server reaches a variable through `into` once transformed beyond the "
                "masker's variants (a slice, a replace): the flow check cannot see "
                "through the server. A designer is trusted with the secrets they may "
                "send (run env does the same with `echo ${TOKEN#?}`)",
            ),
        ),
    ],
)
async def test_a_secret_echoed_by_a_server_does_not_reach_a_variable(
    open_engine: OpenEngine, db_url: str, data_dir: Path, tmp_path: Path, echo_port: int, into: str
) -> None:
    root = await open_engine()
    await root.set_secret("api_token", SECRET)
    text = ECHO.replace("PORT", str(echo_port)).replace("INTO", into)
    await publish(root, tmp_path, text)
    await open_engine.node(root)  # type: ignore[attr-defined]
    instance = await root.start_process("echo", {})
    await finished(root, instance)
    dump = await store_dump(root, db_url, data_dir)
    assert SECRET[1:].encode() not in dump
    assert SECRET[1:].upper().encode() not in dump


def test_the_masker_hides_a_secret_url_encoded_and_json_escaped() -> None:
    """Tokens often hold + / = (base64) or quotes: a command printing a URL it built
    (``curl -v``), or a JSON document, shows them escaped."""
    from urllib.parse import quote, quote_plus

    from switchyard.engine.people import MASK
    from switchyard.engine.people.masking import TextMasker

    token = 'k9+Ab/cd=ef "q" \\z'
    masker = TextMasker([token])
    for shown in (
        quote(token, safe=""),
        quote(token),
        quote_plus(token),
        json.dumps(token)[1:-1],
    ):
        assert shown != token
        assert masker.mask(f"GET /x?t={shown} 200") == f"GET /x?t={MASK} 200", shown


SMUGGLE = """
process: x
variables:
  out: {type: map}
start: a
states:
  a:
    actions:
      - %s
"""


@pytest.mark.parametrize(
    "action",
    [
        'start_process: {process: x, wait: false, vars: {"x].run.env.T": "{{ secret.t }}"}}',
        'sql: {connection: erp, query: "select 1", params: {"x].run.env.T": "{{ secret.t }}"}}',
        'http: {url: "http://127.0.0.1:1/", headers: {"x].log": "{{ secret.t }}"}}',
    ],
    ids=["child-vars", "sql-params", "header-name"],
)
def test_a_key_cannot_make_a_sink_look_like_run_env(action: str) -> None:
    """The flow check finds an action's kind and field in the path of the template it
    checks; a free key is part of that path. A child variable named `x].run.env.T` made
    `start_process.vars` look like `run.env` and a plain secret was published into a
    child's variables (shown to every viewer of the child)."""
    from switchyard.engine.definitions import DefinitionError, parse_definition

    with pytest.raises(DefinitionError, match="is not a valid"):
        parse_definition(SMUGGLE % action, "x.yaml")

"""The ``http`` action against real HTTP and HTTPS servers on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from switchyard.engine.actions.base import ActionContext, ActionFailed, Done
from switchyard.engine.actions.http import HttpAction, safe_url

from .conftest import SECRETS, HttpServer, TlsFiles

MakeCtx = Callable[..., ActionContext]


def http_args(url: str, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "method": "GET",
        "url": url,
        "headers": {},
        "json": None,
        "body": None,
        "ca_bundle": None,
        "verify": True,
        "into": {},
        "expect": None,
    }
    args.update(extra)
    return args


def test_interface() -> None:
    assert HttpAction.kind == "http"
    assert HttpAction.side_effects is True


async def test_get_json_into_mapping(
    http_server: HttpServer, make_ctx: MakeCtx, log_lines: list[str]
) -> None:
    ctx = make_ctx(scope={"path": "json"})
    args = http_args(
        http_server.base + "/{{ path }}?q=private",
        into={
            "item_id": "response.json.id",
            "second": "response.json['items'][1]",
            "status": "response.status",
            "request_id": "response.headers['x-request-id']",
            "raw": "response.text",
        },
    )
    done = await HttpAction().execute(args, ctx)
    assert isinstance(done, Done)
    assert done.note == "HTTP 200"
    assert done.updates["item_id"] == 42
    assert done.updates["second"] == 2
    assert done.updates["status"] == 200
    assert done.updates["request_id"] == "abc-123"
    assert json.loads(done.updates["raw"])["name"] == "widget"
    assert http_server.requests[0]["query"] == {"q": ["private"]}
    assert len(log_lines) == 1
    line = log_lines[0]
    assert "GET" in line and http_server.base + "/json" in line and "200" in line
    assert "private" not in line  # no query string in the log


async def test_post_json_body_and_templated_headers(
    http_server: HttpServer, make_ctx: MakeCtx, log_lines: list[str]
) -> None:
    ctx = make_ctx(scope={"token": SECRETS["API_TOKEN"], "name": "Ann", "amount": 12.5})
    args = http_args(
        http_server.base + "/echo",
        method="POST",
        headers={"Authorization": "Bearer {{ token }}", "X-Who": "{{ name }}"},
        json={"employee": "{{ name }}", "amount": "{{ amount }}", "tags": ["a", "{{ name }}"]},
        into={"echo": "response.json"},
    )
    done = await HttpAction().execute(args, ctx)
    received = http_server.requests[0]
    assert received["method"] == "POST"
    assert json.loads(received["body"]) == {"employee": "Ann", "amount": 12.5, "tags": ["a", "Ann"]}
    assert received["headers"]["authorization"] == f"Bearer {SECRETS['API_TOKEN']}"
    assert received["headers"]["x-who"] == "Ann"
    assert received["headers"]["content-type"] == "application/json"
    assert done.updates["echo"]["method"] == "POST"
    # neither headers nor bodies are logged
    assert SECRETS["API_TOKEN"] not in " ".join(log_lines)
    assert "Ann" not in " ".join(log_lines)


async def test_plain_body_put(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    args = http_args(
        http_server.base + "/echo",
        method="PUT",
        headers={"Content-Type": "text/plain"},
        body="count={{ n }}",
    )
    await HttpAction().execute(args, make_ctx(scope={"n": 3}))
    assert http_server.requests[0]["body"] == "count=3"
    assert http_server.requests[0]["method"] == "PUT"


async def test_500_is_retryable(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    url = http_server.base + "/status/500"
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(http_args(url + "?secret=1", method="DELETE"), make_ctx())
    assert info.value.retryable is True
    assert info.value.message == f"HTTP 500 from DELETE {url}"


async def test_429_is_retryable(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(http_args(http_server.base + "/status/429"), make_ctx())
    assert info.value.retryable is True


async def test_404_is_not_retryable(
    http_server: HttpServer, make_ctx: MakeCtx, log_lines: list[str]
) -> None:
    url = http_server.base + "/status/404"
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(http_args(url), make_ctx())
    assert info.value.retryable is False
    assert info.value.message == f"HTTP 404 from GET {url}"
    assert len(log_lines) == 1 and "404" in log_lines[0]


async def test_expected_404_is_accepted(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    args = http_args(http_server.base + "/status/404", expect=[404], into={"body": "response.text"})
    done = await HttpAction().execute(args, make_ctx())
    assert done.updates == {"body": "status 404"}
    assert done.note == "HTTP 404"


async def test_expect_list_rejects_other_2xx(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    with pytest.raises(ActionFailed, match="HTTP 200 from GET"):
        await HttpAction().execute(http_args(http_server.base + "/json", expect=[201]), make_ctx())


async def test_redirects_followed_unless_expected(
    http_server: HttpServer, make_ctx: MakeCtx
) -> None:
    args = http_args(http_server.base + "/redirect", into={"id": "response.json.id"})
    assert (await HttpAction().execute(args, make_ctx())).updates == {"id": 42}
    args = http_args(
        http_server.base + "/redirect", expect=[302], into={"to": "response.headers.location"}
    )
    assert (await HttpAction().execute(args, make_ctx())).updates == {"to": "/json"}


async def test_head_and_non_json_body(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    args = http_args(
        http_server.base + "/json", method="HEAD", into={"j": "response.json", "t": "response.text"}
    )
    done = await HttpAction().execute(args, make_ctx())
    assert done.updates == {"j": None, "t": ""}


async def test_timeout_fails_quickly(http_server: HttpServer, make_ctx: MakeCtx) -> None:
    started = time.monotonic()
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(http_args(http_server.base + "/slow"), make_ctx(timeout=0.3))
    assert time.monotonic() - started < 1.5
    assert info.value.retryable is True
    assert "timed out after 0.3s" in info.value.message


async def test_connection_refused_is_retryable(make_ctx: MakeCtx) -> None:
    from .conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/x"
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(http_args(url), make_ctx())
    assert info.value.retryable is True
    assert f"GET {url}" in info.value.message


async def test_https_with_ca_bundle(
    https_server: HttpServer, tls_files: TlsFiles, make_ctx: MakeCtx
) -> None:
    args = http_args(
        https_server.base + "/json", ca_bundle=str(tls_files.ca), into={"id": "response.json.id"}
    )
    done = await HttpAction().execute(args, make_ctx())
    assert done.updates == {"id": 42}


async def test_https_without_ca_bundle_fails_verification(
    https_server: HttpServer, make_ctx: MakeCtx
) -> None:
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(http_args(https_server.base + "/json"), make_ctx())
    assert info.value.retryable is False
    assert "certificate verification failed" in info.value.message
    assert https_server.requests == []


async def test_https_verify_false(https_server: HttpServer, make_ctx: MakeCtx) -> None:
    done = await HttpAction().execute(
        http_args(https_server.base + "/json", verify=False), make_ctx()
    )
    assert done.note == "HTTP 200"


async def test_missing_ca_bundle_is_not_retryable(
    https_server: HttpServer, make_ctx: MakeCtx, data_dir: Any
) -> None:
    args = http_args(https_server.base + "/json", ca_bundle="nope/ca.pem")
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(args, make_ctx())
    assert info.value.retryable is False
    assert str(data_dir / "nope" / "ca.pem") in info.value.message


async def test_secret_in_url_is_masked_in_log(
    http_server: HttpServer, make_ctx: MakeCtx, log_lines: list[str]
) -> None:
    ctx = make_ctx(scope={"token": SECRETS["API_TOKEN"]})
    args = http_args("http://user:pw@" + http_server.base[7:] + "/nothing/{{ token }}")
    with pytest.raises(ActionFailed) as info:
        await HttpAction().execute(args, ctx)
    assert SECRETS["API_TOKEN"] not in log_lines[0]
    assert "****" in log_lines[0]
    assert "pw@" not in log_lines[0] and "pw@" not in info.value.message
    # errors name the URL as the definition writes it: no value of any variable in them
    assert info.value.message == f"HTTP 404 from GET {http_server.base}/nothing/{{{{ token }}}}"


def test_safe_url() -> None:
    assert safe_url("https://u:p@h.example:8443/a/b?c=d#e") == "https://h.example:8443/a/b"

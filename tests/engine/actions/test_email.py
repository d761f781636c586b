"""The ``email`` action against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.actions.base import ActionContext, ActionFailed, Done
from switchyard.engine.actions.email import EmailAction

from .conftest import SMTP_USER, SmtpServer, free_port

MakeCtx = Callable[..., ActionContext]


@pytest.fixture
def smtp_ctx(make_ctx: MakeCtx, smtp_server: SmtpServer) -> Callable[..., ActionContext]:
    def factory(**overrides: Any) -> ActionContext:
        smtp = {"host": "127.0.0.1", "port": smtp_server.port, "from": "robot@switchyard.test"}
        overrides.setdefault("config", {"smtp": smtp})
        return make_ctx(**overrides)

    return factory


def email_args(**extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "to": ["ann@example.com"],
        "cc": [],
        "subject": "Hello",
        "body": "Body",
        "attachments": [],
        "from": None,
    }
    args.update(extra)
    return args


def parse(server: SmtpServer, index: int = 0) -> EmailMessage:
    content = server.envelopes[index].content
    assert isinstance(content, bytes)
    message = email.message_from_bytes(content, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def test_interface() -> None:
    assert EmailAction.kind == "email"
    assert EmailAction.side_effects is True


async def test_rendered_message_arrives(
    smtp_ctx: Callable[..., ActionContext], smtp_server: SmtpServer, log_lines: list[str]
) -> None:
    scope = {"manager": "boss@example.com", "employee": "Ann", "amount": 120, "team": ["t@x.org"]}
    args = email_args(
        to=["{{ manager }}", "Bob Smith <bob@example.com>"],
        cc="{{ team }}",
        subject="Expense of {{ employee }}: {{ amount }} EUR",
        body="Dear manager,\n{{ employee }} asks for {{ amount }} EUR.\n",
    )
    done = await EmailAction().execute(args, smtp_ctx(scope=scope))
    assert isinstance(done, Done)
    assert done.updates == {}
    assert done.note == "sent to 3 recipient(s)"
    envelope = smtp_server.envelopes[0]
    assert envelope.mail_from == "robot@switchyard.test"
    assert envelope.rcpt_tos == ["boss@example.com", "bob@example.com", "t@x.org"]
    msg = parse(smtp_server)
    assert msg["Subject"] == "Expense of Ann: 120 EUR"
    assert msg["To"] == "boss@example.com, Bob Smith <bob@example.com>"
    assert msg["Cc"] == "t@x.org"
    assert msg["From"] == "robot@switchyard.test"
    assert msg["Message-ID"] and msg["Date"]
    body = msg.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Dear manager,\nAnn asks for 120 EUR.\n"
    assert len(log_lines) == 1
    assert "boss@example.com" in log_lines[0] and "Expense" not in log_lines[0]


async def test_attachment_from_instance_files(
    smtp_ctx: Callable[..., ActionContext], smtp_server: SmtpServer, data_dir: Path
) -> None:
    folder = data_dir / "files" / "7"
    folder.mkdir(parents=True)
    (folder / "report.csv").write_text("id,amount\n1,12.50\n")
    other = data_dir / "elsewhere.bin"
    other.write_bytes(b"\x00\x01\x02")
    ctx = smtp_ctx(scope={"name": "report"})
    args = email_args(attachments=["{{ name }}.csv", str(other)], **{"from": "ops@example.com"})
    await EmailAction().execute(args, ctx)
    msg = parse(smtp_server)
    assert msg["From"] == "ops@example.com"
    parts = {part.get_filename(): part for part in msg.iter_attachments()}
    assert set(parts) == {"report.csv", "elsewhere.bin"}
    assert parts["report.csv"].get_content_type() == "text/csv"
    assert parts["report.csv"].get_payload(decode=True) == b"id,amount\n1,12.50\n"
    assert parts["elsewhere.bin"].get_payload(decode=True) == b"\x00\x01\x02"


async def test_missing_attachment_fails_naming_the_path(
    smtp_ctx: Callable[..., ActionContext], smtp_server: SmtpServer, data_dir: Path
) -> None:
    with pytest.raises(ActionFailed) as info:
        await EmailAction().execute(email_args(attachments=["report.csv"]), smtp_ctx())
    assert info.value.retryable is False
    assert str(data_dir / "files" / "7" / "report.csv") in info.value.message
    assert smtp_server.envelopes == []


async def test_server_down_is_retryable(make_ctx: MakeCtx, log_lines: list[str]) -> None:
    port = free_port()
    ctx = make_ctx(config={"smtp": {"host": "127.0.0.1", "port": port, "from": "r@x.org"}})
    started = time.monotonic()
    with pytest.raises(ActionFailed) as info:
        await EmailAction().execute(email_args(), ctx)
    assert time.monotonic() - started < 2
    assert info.value.retryable is True
    assert f"127.0.0.1:{port}" in info.value.message
    assert len(log_lines) == 1 and "failed" in log_lines[0]


async def test_some_recipients_refused(
    smtp_ctx: Callable[..., ActionContext], smtp_server: SmtpServer, log_lines: list[str]
) -> None:
    args = email_args(to=["ann@example.com", "nobody@example.com"])
    done = await EmailAction().execute(args, smtp_ctx())
    assert done.note == "sent to 1 recipient(s); refused: nobody@example.com"
    assert smtp_server.envelopes[0].rcpt_tos == ["ann@example.com"]
    assert any("refused nobody@example.com" in line for line in log_lines)


async def test_all_recipients_refused_is_not_retryable(
    smtp_ctx: Callable[..., ActionContext], smtp_server: SmtpServer
) -> None:
    with pytest.raises(ActionFailed, match="refused every recipient") as info:
        await EmailAction().execute(email_args(to=["nobody@example.com"]), smtp_ctx())
    assert info.value.retryable is False
    assert smtp_server.envelopes == []


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        ({"to": []}, None, "no recipients"),
        ({"to": ["not-an-address"]}, None, "is not an address"),
        ({"subject": "line\nbreak"}, None, "cannot build the message"),
        ({}, {"smtp": {"host": "127.0.0.1"}}, "no sender"),
        ({}, {"smtp": {"from": "a@b.c", "username": "u"}}, "password_secret is not"),
        ({}, {"smtp": {"from": "a@b.c", "password_secret": "NOPE"}}, "'NOPE' is not set"),
    ],
)
async def test_definition_errors_are_not_retryable(
    smtp_ctx: Callable[..., ActionContext],
    smtp_server: SmtpServer,
    args: dict[str, Any],
    config: dict[str, Any] | None,
    message: str,
) -> None:
    ctx = smtp_ctx(config=config) if config is not None else smtp_ctx()
    with pytest.raises(ActionFailed, match=message) as info:
        await EmailAction().execute(email_args(**args), ctx)
    assert info.value.retryable is False
    assert smtp_server.envelopes == []


# aiosmtpd warns about AUTH without TLS; that is on purpose on this loopback test server.
plain_auth = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@plain_auth
@pytest.mark.parametrize("secret", ["SMTP_PASSWORD", "API_TOKEN"])
async def test_login_with_password_secret(
    make_ctx: MakeCtx, smtp_auth_server: SmtpServer, secret: str, log_lines: list[str]
) -> None:
    smtp = {
        "host": "127.0.0.1",
        "port": smtp_auth_server.port,
        "from": "robot@switchyard.test",
        "username": SMTP_USER[0],
        "password_secret": secret,
    }
    ctx = make_ctx(config={"smtp": smtp})
    if secret == "SMTP_PASSWORD":
        await EmailAction().execute(email_args(), ctx)
        assert len(smtp_auth_server.envelopes) == 1
    else:  # the wrong password
        with pytest.raises(ActionFailed, match="login") as info:
            await EmailAction().execute(email_args(), ctx)
        assert info.value.retryable is False
        assert smtp_auth_server.envelopes == []
    assert all(SMTP_USER[1] not in line for line in log_lines)


@plain_auth
async def test_auth_required_without_credentials(
    make_ctx: MakeCtx, smtp_auth_server: SmtpServer
) -> None:
    smtp = {"host": "127.0.0.1", "port": smtp_auth_server.port, "from": "r@x.org"}
    with pytest.raises(ActionFailed) as info:
        await EmailAction().execute(email_args(), make_ctx(config={"smtp": smtp}))
    assert info.value.retryable is False
    assert "530" in info.value.message

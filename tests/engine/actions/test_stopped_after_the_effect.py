"""A side-effect action stopped (its task cancelled: a cancel, a sibling branch's failure,
the node stopping) after the world was touched (a request answered, a statement committed,
a mail sent), while it still logs what it did: it says
so (``RanToItsEnd``, still a cancellation, carrying its result), so the executor records
its step done instead of taking it for one the stop killed, which a retry runs again (a
second POST, a second INSERT). Its log call is held here until the stop comes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.actions.base import ActionContext, Done, RanToItsEnd
from switchyard.engine.actions.email import EmailAction
from switchyard.engine.actions.http import HttpAction
from switchyard.engine.actions.sql import SqlAction, dispose_all

from .conftest import HttpServer, SmtpServer
from .test_email import email_args
from .test_http import http_args
from .test_sql import sql_args

MakeCtx = Callable[..., ActionContext]


class HeldLog:
    """A log that holds its first call (the line saying what the action did)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.held = asyncio.Event()

    async def __call__(self, lines: list[str]) -> None:
        self.lines += lines
        self.held.set()
        await asyncio.Event().wait()  # until cancelled


async def _stopped_while_it_logs(execute: Any, log: HeldLog) -> BaseException:
    task = asyncio.create_task(execute)
    await asyncio.wait_for(log.held.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as stopped:
        await task
    return stopped.value


async def test_an_http_request_answered_before_the_stop_is_done(
    http_server: HttpServer, make_ctx: MakeCtx
) -> None:
    log = HeldLog()
    ctx = make_ctx(log=log)
    args = http_args(http_server.base + "/json", method="POST", json={"a": 1})
    args["into"] = {"got": "response.json.id"}
    stopped = await _stopped_while_it_logs(HttpAction().execute(args, ctx), log)
    assert len(http_server.requests) == 1
    assert isinstance(stopped, RanToItsEnd), "taken for a request the stop broke off"
    assert stopped.directive == Done(updates={"got": 42}, note="HTTP 200")


async def test_an_sql_statement_committed_before_the_stop_is_done(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    target = tmp_path / "target.db"
    connections = {"target": f"sqlite+aiosqlite:///{target}"}
    try:
        await SqlAction().execute(
            sql_args("CREATE TABLE t (n INTEGER)"), make_ctx(connections=connections)
        )
        log = HeldLog()
        ctx = make_ctx(log=log, connections=connections)
        run = SqlAction().execute(sql_args("INSERT INTO t (n) VALUES (1)"), ctx)
        stopped = await _stopped_while_it_logs(run, log)
        assert isinstance(stopped, RanToItsEnd), "taken for a statement the stop broke off"
        assert stopped.directive.note == "1 row(s) affected"
    finally:
        await dispose_all()


async def test_a_mail_sent_before_the_stop_is_done(
    make_ctx: MakeCtx, smtp_server: SmtpServer
) -> None:
    log = HeldLog()
    smtp = {"host": "127.0.0.1", "port": smtp_server.port, "from": "robot@switchyard.test"}
    ctx = make_ctx(log=log, config={"smtp": smtp})
    stopped = await _stopped_while_it_logs(EmailAction().execute(email_args(), ctx), log)
    assert len(smtp_server.envelopes) == 1
    assert isinstance(stopped, RanToItsEnd), "taken for a mail the stop broke off"
    assert stopped.directive.note == "sent to 1 recipient(s)"

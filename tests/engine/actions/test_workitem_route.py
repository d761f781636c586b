"""send_work_item refuses a malformed route as a non-retryable ActionFailed.

Found by mypy: the error was raised with ``retryable`` passed by position, which is
keyword-only, so the step died with a TypeError instead of a clear action failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from switchyard.engine.actions.base import ActionContext, ActionFailed
from switchyard.engine.actions.workitem import SendWorkItemAction


@pytest.mark.parametrize("route", [None, "alice", {}, {"user": "a", "workgroup": "b"}])
async def test_malformed_route_is_a_plain_action_failure(
    make_ctx: Callable[..., ActionContext], route: Any
) -> None:
    with pytest.raises(ActionFailed) as caught:
        await SendWorkItemAction().execute({"form": "approve", "to": route}, make_ctx())
    assert caught.value.retryable is False
    assert "to: expected {user: login} or {workgroup: name}" in caught.value.message

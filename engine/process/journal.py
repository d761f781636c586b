"""The statements one step writes, shaped for the group writer (shared statement objects,
so the writes of many instances in one batch run as one executemany each)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from switchyard.engine.instances.transition import COMPLETE_RUNNING, COMPLETE_RUNNING_IN_STATE
from switchyard.engine.process.writer import Statement as Statement  # re-exported: j.Statement
from switchyard.store.models import (
    STEP_CANCELLED,
    STEP_DONE,
    STEP_STARTED,
    Instance,
    Step,
    table_of,
)
from switchyard.store.queries import instance_vars as var_q
from switchyard.store.queries.steps import INSERT_HISTORY, INSERT_STEP, end_step_stmt

instances = table_of(Instance)

END_STEP = end_step_stmt()
RESTART_STEP = end_step_stmt()  # same shape, a different object: never grouped with ends
# ends a step only while it is still under way (a step that ended meanwhile keeps its end)
CANCEL_STEP = end_step_stmt().where(table_of(Step).c.status == STEP_STARTED)

TOUCH_INSTANCE = (
    update(instances)
    .where(instances.c.id == bindparam("b_id"))
    .values(
        variables=bindparam("variables"),
        current_action=bindparam("current_action"),
        current_state=bindparam("current_state"),
        visit=bindparam("visit"),
        updated_at=bindparam("updated_at"),
    )
)


def step_row(
    instance_id: int,
    key: str,
    action: dict[str, Any],
    *,
    status: str,
    now: datetime,
    ended: bool = False,
    decision: dict[str, Any] | None = None,
    note: str | None = None,
    attempt: int = 1,
) -> Statement:
    return (
        INSERT_STEP,
        {
            "instance_id": instance_id,
            "key": key,
            "kind": action["kind"],
            "path": action.get("path") or "",
            "label": action.get("name"),
            "status": status,
            "attempt": attempt,
            "started_at": now,
            "ended_at": now if ended else None,
            "decision": decision,
            "note": note,
            "error": None,
        },
    )


def end_step(
    instance_id: int,
    key: str,
    *,
    now: datetime,
    status: str = STEP_DONE,
    decision: dict[str, Any] | None = None,
    note: str | None = None,
    error: str | None = None,
) -> Statement:
    return (
        END_STEP,
        {
            "b_instance_id": instance_id,
            "b_key": key,
            "status": status,
            "ended_at": now,
            "note": note,
            "error": error,
            "decision": decision,
        },
    )


def cancel_step(
    instance_id: int, key: str, *, now: datetime, decision: dict[str, Any] | None
) -> Statement:
    return (
        CANCEL_STEP,
        {
            "b_instance_id": instance_id,
            "b_key": key,
            "status": STEP_CANCELLED,
            "ended_at": now,
            "note": None,
            "error": None,
            "decision": decision,
        },
    )


def restart_step(
    instance_id: int, key: str, *, now: datetime, decision: dict[str, Any] | None
) -> Statement:
    return (
        RESTART_STEP,
        {
            "b_instance_id": instance_id,
            "b_key": key,
            "status": STEP_STARTED,
            "ended_at": None,
            "note": None,
            "error": None,
            "decision": decision,
        },
    )


def touch(
    instance_id: int,
    *,
    variables: dict[str, Any],
    current_action: str | None,
    current_state: str | None,
    visit: int,
    now: datetime,
) -> Statement:
    return (
        TOUCH_INSTANCE,
        {
            "b_id": instance_id,
            "variables": variables,
            "current_action": current_action,
            "current_state": current_state,
            "visit": visit,
            "updated_at": now,
        },
    )


def history(
    instance_id: int, kind: str, now: datetime, user: str | None, detail: dict[str, Any]
) -> Statement:
    return (
        INSERT_HISTORY,
        {"instance_id": instance_id, "kind": kind, "at": now, "user": user, "detail": detail},
    )


COMPLETE_INSTANCE = COMPLETE_RUNNING  # an end of the lifecycle: defined with transition
COMPLETE_IN_STATE = COMPLETE_RUNNING_IN_STATE


def complete(
    instance_id: int,
    *,
    outcome: str | None,
    variables: dict[str, Any],
    now: datetime,
    state: tuple[str, int] | None = None,
) -> Statement:
    """The completion; with ``state`` (current state, visit) it also sets what an instance
    update (``touch``) would, so that the write it ends needs none."""
    params = {
        "b_id": instance_id,
        "reason": f"outcome: {outcome}" if outcome else None,
        "outcome": outcome,
        "variables": variables,
        "ended_at": now,
    }
    if state is None:
        return COMPLETE_INSTANCE, params
    params["current_state"], params["visit"] = state
    return COMPLETE_IN_STATE, params


def without_touch(statements: list[Statement]) -> list[Statement]:
    """``statements`` without their instance updates (a completion with ``state`` sets
    all their fields that outlive it)."""
    return [s for s in statements if s[0] is not TOUCH_INSTANCE]


BIND_DEFINITION = (
    update(instances)
    .where(instances.c.id == bindparam("b_id"))
    .values(definition_id=bindparam("definition_id"), process_version=bindparam("process_version"))
)


def bind_definition(instance_id: int, definition_id: int, version: int) -> Statement:
    """A scheduled process fire learns its version when it starts (with its first step)."""
    return (
        BIND_DEFINITION,
        {"b_id": instance_id, "definition_id": definition_id, "process_version": version},
    )


def index_variables(instance_id: int, variables: dict[str, Any]) -> list[Statement]:
    """Replace the instance's indexed variables (monitor filters) with these values."""
    rows = var_q.index_rows(instance_id, variables)
    return [(var_q.DELETE_VARS, {"b_instance_id": instance_id})] + [
        (var_q.INSERT_VAR, row) for row in rows
    ]


def step_keys(statements: Sequence[Statement]) -> list[str]:
    """The journal keys a write's statements insert or update, in order, once each."""
    keys: list[str] = []
    for _, params in statements:
        key = params.get("key", params.get("b_key")) if isinstance(params, dict) else None
        if isinstance(key, str) and key not in keys:
            keys.append(key)
    return keys

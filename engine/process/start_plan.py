"""What a single start reads before it writes, cached under the store's change token.

The server parameters and the definitions change only in a transaction that replaces the
store's change token (``param.changed``, ``process.published``: kernel/tx.py), and so
do users, groups and rights (``people.changed``). A start therefore reads, in its own
write transaction and in ONE statement, the token and whether the lane it needs exists;
when the token is the one its cache was filled under, the parameters and the definition
come from the cache. When the start runs on the guard's cached identity
(``rule(..., revalidates=True)``), a token other than the one that identity was read
with raises ``StaleIdentity`` before anything is written: the guard reads the identity
again, checks the rule on it (a revoked right refuses at once, whichever process or
engine revoked it) and runs the start again.

Lanes are not behind the token: their existence is read by that same statement each time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.ops import params as server_params
from switchyard.engine.people.rules import CACHED_TOKEN, ON_CACHED_IDENTITY, StaleIdentity
from switchyard.engine.process import starts
from switchyard.store.queries import params as params_q

_NOTHING = object()


@dataclass
class StartCache:
    """Parameters and definitions read under one change token."""

    token: object = _NOTHING
    params: dict[str, Any] = field(default_factory=dict)
    # (process, version or None) -> the definition row
    definitions: dict[tuple[str, int | None], dict[str, Any]] = field(default_factory=dict)


def lane_of(definition: dict[str, Any], lane: str | None) -> str:
    return lane or definition["doc"].get("lane") or "default"


def token_and_lane(lane: str) -> Any:
    """The statement: the change token and the lane's name (NULL: no such lane)."""
    found = select(starts.lanes.c.name).where(starts.lanes.c.name == lane).scalar_subquery()
    return select(params_q.changes_token(), found)


def check_token(token: object) -> None:
    """On the cached identity: StaleIdentity unless ``token`` is the one it was read with."""
    if ON_CACHED_IDENTITY.get() and token != CACHED_TOKEN.get():
        raise StaleIdentity()


async def plan(
    conn: AsyncConnection,
    cache: StartCache,
    name: str,
    version: int | None,
    lane: str | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(parameters, definition, lane) for a start, read in ``conn``'s transaction (see the
    module's docstring); ``cache`` is updated when the token moved."""
    definition = cache.definitions.get((name, version))
    target = lane_of(definition, lane) if definition is not None else (lane or "default")
    token, found = (await conn.execute(token_and_lane(target))).one()
    check_token(token)
    if token != cache.token:
        cache.token, cache.params, cache.definitions = token, {}, {}
        definition = None
    if not cache.params:
        cache.params = await server_params.load(conn)
    params = cache.params
    await starts.check_launch_allowed(conn, params, now)
    if definition is None:
        definition, target = await starts.definition_and_lane(conn, name, version, lane)
        cache.definitions[(name, version)] = definition
    elif found is None:
        raise SwitchyardError("lane", f"unknown lane '{target}'")
    return params, definition, target


def ready(
    cache: StartCache, name: str, version: int | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(parameters, definition) from the cache when a start may be written without reading
    anything first but the token (start_driver.py): both cached, no launch block to check,
    and, on the cached identity, the cache filled under the token that identity was read
    with. None: take the ordinary path."""
    definition = cache.definitions.get((name, version))
    if definition is None or not cache.params or cache.params["block_launch_during_restore"]:
        return None
    if ON_CACHED_IDENTITY.get() and CACHED_TOKEN.get() != cache.token:
        return None
    return cache.params, definition

"""A single start reads the caller's identity, the parameters and the definition from
caches kept under the store's change token (engine/process/start_plan.py), checked in
the start's own transaction: whatever another engine or another OS process changes (a
licence, the admin flag, a user removed, a parameter, a new version) applies to the
very next start, and a refusal is still audited."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import instance_rows
from engine.process.helpers import publish
from engine.process.test_start_many import PAY
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused, SwitchyardError
from switchyard.store.queries import people as people_q

OpenEngine = Callable[..., Awaitable[Engine]]

ROW = {"who": "ann", "amount": "1.50"}
NEEDS_LAUNCH = "alice may not start pay: needs the launch right on it"


async def alice_designer(open_engine: OpenEngine, root: Engine, tmp_path: Path) -> Engine:
    await publish(root, tmp_path, PAY)
    await root.add_user("alice", licence="designer")
    alice = await open_engine(user="alice")
    for _ in range(3):  # the identity and the start's caches filled
        await alice.start_process("pay", ROW)
    return alice


async def refusals(engine: Engine) -> list[str]:
    async with engine.store.read() as conn:
        rows = await people_q.list_audit(conn, limit=50)
    return [r["detail"].get("why", "") for r in rows if r["action"] == "refused"]


async def test_a_licence_taken_by_another_engine_refuses_the_next_start(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    alice = await alice_designer(open_engine, root, tmp_path)
    await root.set_user("alice", licence="monitor")
    with pytest.raises(Refused, match=NEEDS_LAUNCH):
        await alice.start_process("pay", ROW)
    assert NEEDS_LAUNCH in await refusals(root)
    assert len(await instance_rows(root)) == 3
    await root.set_user("alice", licence="designer")  # given back: at once too
    assert await alice.start_process("pay", ROW) > 0


async def test_an_admin_flag_taken_refuses_the_next_start(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    await publish(root, tmp_path, PAY)
    await root.add_user("alice", licence="direct", admin=True)
    alice = await open_engine(user="alice")
    await alice.start_process("pay", ROW)
    await alice.start_process("pay", ROW)
    await root.set_user("alice", admin=False)
    with pytest.raises(Refused, match=NEEDS_LAUNCH):
        await alice.start_process("pay", ROW)


async def test_a_user_removed_cannot_start(open_engine: OpenEngine, tmp_path: Path) -> None:
    root = await open_engine()
    alice = await alice_designer(open_engine, root, tmp_path)
    await root.remove_user("alice")
    with pytest.raises(Refused, match="not a Switchyard user: alice"):
        await alice.start_process("pay", ROW)


async def test_a_licence_taken_by_another_os_process_refuses_the_next_start(
    open_engine: OpenEngine, db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    root = await open_engine()
    alice = await alice_designer(open_engine, root, tmp_path)
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from switchyard.engine.api import Engine

        async def main():
            engine = await Engine.open({db_url!r}, data_dir=Path({str(data_dir)!r}))
            await engine.set_user("alice", licence="monitor")
            await engine.close()

        asyncio.run(main())
        """
    )
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script], check=True, timeout=60)
    with pytest.raises(Refused, match=NEEDS_LAUNCH):
        await alice.start_process("pay", ROW)


async def test_a_parameter_and_a_new_version_apply_to_the_next_start(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    alice = await alice_designer(open_engine, root, tmp_path)
    await root.set_param("max_variables_bytes", "1024")
    with pytest.raises(SwitchyardError, match="max_variables_bytes limit of 1,024 bytes"):
        await alice.start_process("pay", {"who": "x" * 2000, "amount": "1"})
    await publish(root, tmp_path, PAY.replace("note:", "memo:"))
    new = await alice.start_process("pay", ROW)
    row = next(r for r in await instance_rows(root) if r["id"] == new)
    assert row["process_version"] == 2 and "memo" in row["variables"]


async def test_an_unknown_lane_is_refused_with_the_definition_cached(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    alice = await alice_designer(open_engine, root, tmp_path)
    with pytest.raises(SwitchyardError, match="unknown lane 'nope'"):
        await alice.start_process("pay", ROW, lane="nope")
    await root.add_lane("nope")
    assert await alice.start_process("pay", ROW, lane="nope") > 0


async def test_a_launch_right_revoked_refuses_the_next_start(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    await publish(root, tmp_path, PAY)
    await root.add_user("dave", licence="direct")
    await root.grant("pay", "dave", launch=True)
    dave = await open_engine(user="dave")
    for _ in range(3):  # the right read once, then held with the cached identity
        await dave.start_process("pay", ROW)
    await root.revoke("pay", "dave", launch=True)
    message = "dave may not start pay: needs the launch right on it"
    with pytest.raises(Refused, match=message):
        await dave.start_process("pay", ROW)
    assert message in await refusals(root)
    await root.grant("*", "dave", launch=True)  # on "*": at once too
    assert await dave.start_process("pay", ROW) > 0


async def test_leaving_the_group_holding_the_right_refuses_the_next_start(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root = await open_engine()
    await publish(root, tmp_path, PAY)
    await root.add_user("carol", licence="group")
    await root.add_group("clerks")
    await root.add_member("clerks", "carol")
    await root.grant("pay", "clerks", launch=True, kind="group")
    carol = await open_engine(user="carol")
    for _ in range(3):
        await carol.start_process("pay", ROW)
    await root.remove_member("clerks", "carol")
    with pytest.raises(Refused, match="carol may not start pay"):
        await carol.start_process("pay", ROW)

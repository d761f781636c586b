"""Secrets: encrypted at rest, handed to commands by environment or file, masked in logs,
never on a command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from switchyard.engine.api import Engine
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.store.models import COMPLETED, Event, Schedule, Secret

from engine.helpers import Gates, count_rows, spec, until, wait_status

VALUE = "hunter2-Zq9x-very-secret"


def proc_cmdlines() -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
            except OSError:
                continue
    return out


async def test_values_are_stored_encrypted_with_a_private_key(
    engine: Engine, data_dir: Path
) -> None:
    await engine.set_secret("api.token", VALUE)
    async with engine.store.read() as conn:
        [(key, ciphertext)] = (
            await conn.execute(select(Secret.__table__.c.key, Secret.__table__.c.ciphertext))
        ).all()
    assert key == "api.token"
    assert VALUE.encode() not in bytes(ciphertext)
    assert bytes(ciphertext) != VALUE.encode()
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert await engine.secret_values() == {"api.token": VALUE}
    assert [s.key for s in await engine.secrets()] == ["api.token"]
    # the change feed says which key changed, never the value
    async with engine.store.read() as conn:
        rows = (await conn.execute(select(Event.__table__))).mappings().all()
    assert any(r["kind"] == ev.SECRET_CHANGED and r["entity_id"] == "api.token" for r in rows)
    assert all(VALUE not in str(dict(r)) for r in rows)

    # overwriting replaces it
    await engine.set_secret("api.token", "second-value")
    assert await engine.secret_values() == {"api.token": "second-value"}


async def test_bad_secret_input_is_refused(engine: Engine) -> None:
    with pytest.raises(SwitchyardError) as bad_key:
        await engine.set_secret("no spaces", VALUE)
    assert bad_key.value.field == "key"
    with pytest.raises(SwitchyardError) as empty:
        await engine.set_secret("k", "")
    assert empty.value.field == "value"
    assert await count_rows(engine, Secret) == 0


async def test_a_secret_reaches_the_command_masked_and_off_its_command_line(
    engine: Engine, runtime, gates: Gates
) -> None:
    await engine.set_secret("k", VALUE)
    printing = ["sh", "-c", 'echo "token=$TOKEN"; echo "file=$(cat "$TOKEN_FILE")" >&2']
    gated = gates.command()
    await engine.add_schedule(
        spec("printer", printing, env=["TOKEN=secret:k", "TOKEN_FILE=secretfile:k", "PLAIN=x"])
    )
    await engine.add_schedule(spec("holder", gated, env=["TOKEN=secret:k"]))
    view = await engine.schedule("printer")
    assert view.env == {"TOKEN": "secret:k", "TOKEN_FILE": "secretfile:k", "PLAIN": "x"}

    await runtime(engine)
    lines: list[str] = []
    async with engine.bus.subscribe_logs() as queue:  # live lines: the bus's log channel
        printed = await engine.start("printer")
        await wait_status(engine, printed, COMPLETED)
        while not queue.empty():
            event = queue.get_nowait()
            if event.kind == ev.INSTANCE_LOG:
                lines += event.data["lines"]
    log = await engine.log(printed)
    assert "token=****" in log
    assert "stderr: file=****" in log
    assert VALUE not in engine.log_path(printed).read_text()
    assert "token=****" in lines and all(VALUE not in line for line in lines)

    # while a command that holds the secret runs, no process shows it on its command line
    held = await engine.start("holder")
    await gates.wait_started(held)
    assert all(VALUE not in cmdline for cmdline in proc_cmdlines())
    gates.release(held)
    await wait_status(engine, held, COMPLETED)


async def test_unknown_secret_reference_is_refused_at_add(engine: Engine) -> None:
    before = await count_rows(engine, Schedule)
    with pytest.raises(SwitchyardError) as err:
        await engine.add_schedule(spec("needs-secret", env=["TOKEN=secret:missing"]))
    assert err.value.field == "env"
    assert "missing" in err.value.message
    with pytest.raises(SwitchyardError) as empty_ref:
        await engine.add_schedule(spec("needs-secret", env=["TOKEN=secret:"]))
    assert empty_ref.value.field == "env"
    assert await count_rows(engine, Schedule) == before


async def test_a_secret_removed_after_add_fails_the_run_without_starting_it(
    engine: Engine, runtime, tmp_path: Path
) -> None:
    from switchyard.store.queries import secrets as secret_q

    marker = tmp_path / "ran"
    await engine.set_secret("gone", VALUE)
    await engine.add_schedule(
        spec("late", ["sh", "-c", f"touch {marker}"], env=["TOKEN=secret:gone"])
    )
    async with engine.tx() as tx:
        await secret_q.remove(tx.conn, "gone")
    await runtime(engine)
    instance_id = await engine.start("late")
    row = await until(lambda: _ended(engine, instance_id), what="the run to end without starting")
    assert row["status"] == "error"
    assert "unknown secret 'gone'" in row["reason"]
    assert not marker.exists()


async def _ended(engine: Engine, instance_id: int):
    view = await engine.instance(instance_id)
    return {"status": view.status, "reason": view.reason} if view.ended_at else None

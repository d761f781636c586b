"""The writes of ``switchyard import`` (engine/ops/exchange.py), all on one transaction:
each added or changed file upserts its object, each removed one (``--prune``) deletes it.
Kinds are applied in dependency order (lanes, users, groups, ... ; removals reversed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from switchyard.engine.definitions import Definition
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.ops import params as server_params
from switchyard.engine.ops.exchange_files import KINDS
from switchyard.engine.ops.exchange_read import RIGHT_FIELDS, SCHEDULE_FIELDS, SECSPEC_FIELDS
from switchyard.engine.people.guard import PEOPLE_CHANGED
from switchyard.engine.schedules.triggers import Trigger, TriggerError
from switchyard.engine.schedules.view import first_fire
from switchyard.store.models import LICENCES, SUBJECT_GROUP, SUBJECT_USER
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import params as params_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import saved_filters as filter_q
from switchyard.store.queries import schedules as sched_q

OVERLAPS = ("queue", "skip", "parallel")
MISFIRES = ("once", "each", "skip")


def _kind(rel: str) -> str:
    return rel.split("/", 1)[0]


def _field(where: str, obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SwitchyardError(f"{where}: {name}", f"missing or of the wrong type ({value!r})")
    return value


def _version(rel: str) -> int:
    stem = rel.removesuffix(".yaml")
    return int(stem.rsplit("@", 1)[1]) if "@" in stem else 1 << 30  # latest last


async def apply_changes(
    tx: Tx,
    root: Path,
    todo: list[tuple[str, bool]],  # (relative path, removed?)
    data: dict[str, dict[str, Any]],
    definitions: dict[str, Definition],
    *,
    current_files: dict[str, str],
    user: str,
) -> None:
    upserts = [rel for rel, removed in todo if not removed]
    removals = [rel for rel, removed in todo if removed]
    for kind in KINDS:
        rels = [r for r in upserts if _kind(r) == kind]
        if kind == "processes":
            rels.sort(key=lambda r: (definitions[r].name, _version(r)))
        for rel in rels:
            where = str(root / rel)
            if kind == "processes":
                await _publish(tx, definitions[rel], user)
            else:
                await _upsert(tx, kind, where, data[rel])
    for kind in reversed(KINDS):
        for rel in [r for r in removals if _kind(r) == kind]:
            await _remove(tx, kind, yaml.safe_load(current_files[rel]))


async def _publish(tx: Tx, definition: Definition, user: str) -> None:
    latest = await proc_q.latest(tx.conn, definition.name)
    if latest is not None and latest["digest"] == definition.digest:
        return
    _, version = await proc_q.add_version(
        tx.conn,
        name=definition.name,
        digest=definition.digest,
        filename=definition.filename,
        source=definition.source,
        doc=definition.doc,
        now=tx.now,
        user=user,
    )
    tx.emit(ev.PROCESS_PUBLISHED, definition.name, version=version, by=user)


async def _upsert(tx: Tx, kind: str, where: str, obj: dict[str, Any]) -> None:
    conn, now = tx.conn, tx.now
    if kind == "lanes":
        name = _field(where, obj, "name", str)
        concurrency = _field(where, obj, "concurrency", int)
        if concurrency < 1:
            raise SwitchyardError(f"{where}: concurrency", "must be at least 1")
        if await lane_q.get(conn, name) is None:
            await lane_q.add(conn, name, concurrency, now)
        else:
            await lane_q.set_concurrency(conn, name, concurrency)
        tx.emit(ev.LANE_CHANGED, name)
    elif kind == "users":
        login = _field(where, obj, "login", str)
        licence = _field(where, obj, "licence", str)
        if licence not in LICENCES:
            raise SwitchyardError(f"{where}: licence", f"one of {', '.join(LICENCES)}")
        values = {
            "name": obj.get("name"),
            "licence": licence,
            "admin": _field(where, obj, "admin", bool),
            "roles": [str(r) for r in _field(where, obj, "roles", list)],
        }
        if await people_q.get_user(conn, login) is None:
            await people_q.insert_user(conn, {"login": login, "created_at": now, **values})
        else:
            await people_q.update_user(conn, login, values)
        tx.emit(PEOPLE_CHANGED, login)
    elif kind == "groups":
        name = _field(where, obj, "name", str)
        members = {str(m) for m in _field(where, obj, "members", list)}
        if await people_q.get_group(conn, name) is None:
            await people_q.insert_group(conn, name, now)
        have = {login for group, login in await people_q.memberships(conn) if group == name}
        for login in sorted(members - have):
            if await people_q.get_user(conn, login) is None:
                raise SwitchyardError(f"{where}: members", f"unknown user '{login}'")
            await people_q.add_member(conn, name, login)
        for login in sorted(have - members):
            await people_q.remove_member(conn, name, login)
        tx.emit(PEOPLE_CHANGED, name)
    elif kind == "secspecs":
        name = _field(where, obj, "name", str)
        values = {f: [str(v) for v in _field(where, obj, f, list)] for f in SECSPEC_FIELDS[1:]}
        if await people_q.get_secspec(conn, name) is None:
            await people_q.insert_secspec(conn, {"name": name, "updated_at": now, **values})
        else:
            await people_q.update_secspec(conn, name, {"updated_at": now, **values})
        tx.emit(PEOPLE_CHANGED, name)
    elif kind == "schedules":
        await _schedule(tx, where, obj)
    elif kind == "rights":
        row = {f: obj.get(f) for f in RIGHT_FIELDS}
        process, kind_, subject = (_field(where, obj, f, str) for f in RIGHT_FIELDS[:3])
        if kind_ not in (SUBJECT_USER, SUBJECT_GROUP):
            raise SwitchyardError(f"{where}: subject_kind", f"{SUBJECT_USER} or {SUBJECT_GROUP}")
        for f in ("launch", "view", "manage"):
            _field(where, obj, f, bool)
        old = await people_q.get_right(conn, process, kind_, subject)
        stamp = {"updated_at": now, "updated_by": "import"}
        if old is None:
            await people_q.insert_right(conn, {**row, **stamp})
        else:
            await people_q.update_right(conn, old["id"], {**row, **stamp})
        tx.emit(PEOPLE_CHANGED, row["subject"])
    elif kind == "params":
        name = _field(where, obj, "name", str)
        typed = server_params.check(name, obj.get("value"))
        await params_q.put(conn, name, typed, now)
        tx.emit(ev.PARAM_CHANGED, name, new=typed)
    elif kind == "filters":
        login = _field(where, obj, "login", str)
        name = _field(where, obj, "name", str)
        await filter_q.save(conn, login, name, _field(where, obj, "filter", dict), now)


async def _schedule(tx: Tx, where: str, obj: dict[str, Any]) -> None:
    name = _field(where, obj, "name", str)
    lane = _field(where, obj, "lane", str)
    row = {f: obj.get(f) for f in SCHEDULE_FIELDS}
    try:
        trigger = Trigger.from_fields(_field(where, obj, "trigger", dict))
    except TriggerError as exc:
        raise SwitchyardError(f"{where}: trigger.{exc.field}", exc.message) from None
    _field(where, obj, "command", list)
    for field, choices in (("overlap", OVERLAPS), ("misfire", MISFIRES)):
        if obj.get(field) not in choices:
            raise SwitchyardError(f"{where}: {field}", f"one of {', '.join(choices)}")
    for field in ("overlap_limit", "misfire_limit"):
        if _field(where, obj, field, int) < 0:
            raise SwitchyardError(f"{where}: {field}", "must not be negative")
    if await lane_q.get(tx.conn, lane) is None:
        raise SwitchyardError(f"{where}: lane", f"unknown lane '{lane}'")
    process = obj.get("process")
    if process is not None and await proc_q.latest(tx.conn, str(process)) is None:
        raise SwitchyardError(f"{where}: process", f"unknown process '{process}'")
    row.update(next_fire_at=first_fire(trigger, tx.now), updated_at=tx.now)
    old = await sched_q.get_by_name(tx.conn, name)
    if old is None:
        schedule_id = await sched_q.insert(tx.conn, {**row, "created_at": tx.now})
    else:
        schedule_id = old["id"]
        await sched_q.update_fields(tx.conn, schedule_id, row)
    tx.emit(ev.SCHEDULE_CHANGED, schedule_id, name=name)


async def _remove(tx: Tx, kind: str, obj: dict[str, Any]) -> None:
    conn = tx.conn
    if kind == "users":
        await people_q.delete_user(conn, obj["login"])
        tx.emit(PEOPLE_CHANGED, obj["login"])
    elif kind == "groups":
        await people_q.delete_group(conn, obj["name"])
        tx.emit(PEOPLE_CHANGED, obj["name"])
    elif kind == "secspecs":
        await people_q.delete_secspec(conn, obj["name"])
        tx.emit(PEOPLE_CHANGED, obj["name"])
    elif kind == "schedules":
        old = await sched_q.get_by_name(conn, obj["name"])
        if old is not None:
            await sched_q.remove(conn, old["id"])
            tx.emit(ev.SCHEDULE_REMOVED, old["id"], name=obj["name"])
    elif kind == "rights":
        old = await people_q.get_right(conn, obj["process"], obj["subject_kind"], obj["subject"])
        if old is not None:
            await people_q.delete_right(conn, old["id"])
            tx.emit(PEOPLE_CHANGED, obj["subject"])
    elif kind == "filters":
        await filter_q.delete_one(conn, obj["login"], obj["name"])

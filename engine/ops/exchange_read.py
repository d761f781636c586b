"""What ``switchyard export`` writes, read from the store: relative path -> YAML text, one
file per object (engine/ops/exchange_files.py). Never a secret's value: secrets.yaml lists
the names only. Volatile columns (ids, times, next fires) are left out so that an export
of an imported export is byte-identical."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.ops.exchange_files import SECRETS_FILE, dump, safe_stem
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import params as params_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import saved_filters as filter_q
from switchyard.store.queries import schedules as sched_q
from switchyard.store.queries import secrets as secret_q

SCHEDULE_FIELDS = (
    "name", "trigger", "lane", "overlap", "overlap_limit", "misfire", "misfire_limit",
    "after", "command", "shell", "cwd", "env", "timeout_seconds", "process", "variables",
    "paused",
)  # fmt: skip
USER_FIELDS = ("login", "name", "licence", "admin", "roles")
SECSPEC_FIELDS = ("name", "users", "groups", "roles")
RIGHT_FIELDS = ("process", "subject_kind", "subject", "launch", "view", "manage")


def right_path(row: dict[str, Any]) -> str:
    return (
        f"rights/{safe_stem(row['process'])}/{row['subject_kind']}-{safe_stem(row['subject'])}.yaml"
    )


def _pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: row.get(f) for f in fields}


async def export_files(conn: AsyncConnection, *, all_versions: bool) -> dict[str, str]:
    files: dict[str, str] = {}
    for lane in await lane_q.list_with_counts(conn):
        files[f"lanes/{safe_stem(lane['name'])}.yaml"] = dump(
            {"name": lane["name"], "concurrency": int(lane["concurrency"])}
        )
    members: dict[str, list[str]] = {}
    for group, login in await people_q.memberships(conn):
        members.setdefault(group, []).append(login)
    for group_row in await people_q.list_groups(conn):
        name = group_row["name"]
        files[f"groups/{safe_stem(name)}.yaml"] = dump(
            {"name": name, "members": sorted(members.get(name, []))}
        )
    for user in await people_q.list_users(conn):
        files[f"users/{safe_stem(user['login'])}.yaml"] = dump(_pick(user, USER_FIELDS))
    for spec in await people_q.list_secspecs(conn):
        files[f"secspecs/{safe_stem(spec['name'])}.yaml"] = dump(_pick(spec, SECSPEC_FIELDS))
    for proc in await proc_q.list_latest(conn):
        name, latest = proc["name"], int(proc["version"])
        row = await proc_q.latest(conn, name)
        assert row is not None  # listed just now, in the same read
        files[f"processes/{safe_stem(name)}.yaml"] = row["source"]
        if all_versions:
            for version in range(1, latest + 1):
                old = await proc_q.get(conn, name, version)
                if old is not None:
                    files[f"processes/{safe_stem(name)}@{version}.yaml"] = old["source"]
    for sched in await sched_q.list_all(conn):
        files[f"schedules/{safe_stem(sched['name'])}.yaml"] = dump(_pick(sched, SCHEDULE_FIELDS))
    for right in await people_q.list_rights(conn):
        files[right_path(right)] = dump(_pick(right, RIGHT_FIELDS))
    for name, stored in sorted((await params_q.stored(conn)).items()):
        files[f"params/{safe_stem(name)}.yaml"] = dump({"name": name, "value": stored["value"]})
    for login in sorted(await people_q.logins(conn)):
        for flt in await filter_q.list_for(conn, login):
            path = f"filters/{safe_stem(login)}/{safe_stem(flt['name'])}.yaml"
            files[path] = dump({"login": login, "name": flt["name"], "filter": flt["filter"]})
    names = sorted(key for key, _ in await secret_q.list_keys(conn))
    files[SECRETS_FILE] = dump({"secrets": names})
    return dict(sorted(files.items()))

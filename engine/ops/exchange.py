"""Export and import of the store's configuration (mixed into ``Engine``): lanes, schedules,
process definitions, users, groups, rights, security specs, server parameters and saved
filters, as one YAML file per object (engine/ops/exchange_read.py, exchange_files.py).

Import is all or nothing: every file is read and checked first (the bounded YAML loader;
definitions through the publish checks, issues as file:line:col), then every change is
written in one transaction. The plan (added / changed / unchanged / removed) compares the
files with what an export of this store would write. ``prune`` removes objects the folder
does not have, except: the default lane and lanes (lanes are never deleted), process
definitions (versions are history that instances point at), stored parameters, and the
acting user. Secrets travel by name only: an import refuses a folder whose secrets.yaml
names a secret this store does not have (set it first: switchyard secret set NAME)."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchyard.engine.definitions import Definition, DefinitionError, Known
from switchyard.engine.errors import SwitchyardError
from switchyard.engine.kernel import config as node_config
from switchyard.engine.ops.exchange_apply import apply_changes
from switchyard.engine.ops.exchange_files import KINDS, SECRETS_FILE, load, read_tree, write_tree
from switchyard.engine.ops.exchange_read import export_files
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.rules import admin, rule
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import secrets as secret_q


class Change(enum.StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"


@dataclass(frozen=True)
class ChangeView:
    path: str  # relative to the folder: schedules/nightly.yaml
    change: Change


@dataclass(frozen=True)
class ExportResult:
    directory: str
    files: int


@dataclass(frozen=True)
class ImportResult:
    directory: str
    applied: bool  # False: --dry-run
    changes: list[ChangeView]


#: what --prune may remove (see the module's docstring)
PRUNABLE = ("users", "groups", "secspecs", "schedules", "rights", "filters")


def kind_of(rel: str) -> str:
    return rel.split("/", 1)[0]


def plan(
    current: dict[str, str], wanted: dict[str, str], *, prune: bool, me: str
) -> list[ChangeView]:
    changes: list[ChangeView] = []
    for rel in sorted(set(current) | set(wanted)):
        if rel == SECRETS_FILE:
            continue
        if rel not in wanted:
            mine = rel == f"users/{me}.yaml"
            if prune and kind_of(rel) in PRUNABLE and not mine:
                changes.append(ChangeView(rel, Change.REMOVED))
            continue
        if rel not in current:
            changes.append(ChangeView(rel, Change.ADDED))
        elif current[rel] != wanted[rel]:
            changes.append(ChangeView(rel, Change.CHANGED))
        else:
            changes.append(ChangeView(rel, Change.UNCHANGED))
    return changes


def _parse(root: Path, files: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The data of every non-definition file, checked for shape (a mapping)."""
    data: dict[str, dict[str, Any]] = {}
    for rel, text in files.items():
        kind = kind_of(rel)
        if rel != SECRETS_FILE and kind not in KINDS:
            raise SwitchyardError(
                str(root / rel), f"unknown folder '{kind}' (one of {', '.join(KINDS)})"
            )
        if kind == "processes":
            continue
        value = load(text, str(root / rel))
        if not isinstance(value, dict):
            raise SwitchyardError(str(root / rel), "must be a mapping of fields")
        data[rel] = value
    return data


def _definitions(root: Path, rels: list[str], known: Known) -> dict[str, Definition]:
    """The definition files through the publish checks (blocking: to_thread)."""
    from switchyard.engine.definitions import load_file

    parsed: dict[str, Definition] = {}
    issues = []
    for rel in rels:
        try:
            parsed[rel] = load_file(root / rel, known)
        except DefinitionError as exc:
            issues.extend(exc.issues)
    if issues:
        raise DefinitionError(issues)
    return parsed


def _names(data: dict[str, dict[str, Any]], kind: str, field: str) -> set[str]:
    return {str(v.get(field)) for rel, v in data.items() if kind_of(rel) == kind}


class ExchangeApi(Guard):
    @rule(admin("export the store"))
    async def export_store(self, directory: Path, *, all_versions: bool = False) -> ExportResult:
        """Write the configuration into ``directory`` (made 0700; files 0600)."""
        async with self.store.read() as conn:
            files = await export_files(conn, all_versions=all_versions)
        await asyncio.to_thread(write_tree, directory, files)
        return ExportResult(str(directory), len(files))

    @rule(admin("import into the store"))
    async def import_store(
        self, directory: Path, *, dry_run: bool = False, prune: bool = False
    ) -> ImportResult:
        """What would change, and (unless ``dry_run``) all of it in one transaction."""
        wanted = await asyncio.to_thread(read_tree, directory)
        data = await asyncio.to_thread(_parse, directory, wanted)
        all_versions = any("@" in rel for rel in wanted if kind_of(rel) == "processes")
        async with self.store.read() as conn:
            current = await export_files(conn, all_versions=all_versions)
            have_secrets = {key for key, _ in await secret_q.list_keys(conn)}
            known = Known(
                lanes=set(await lane_q.names(conn)) | _names(data, "lanes", "name"),
                secrets=have_secrets,
                workgroups=await people_q.group_names(conn) | _names(data, "groups", "name"),
                users=await people_q.logins(conn) | _names(data, "users", "login"),
                processes=await proc_q.names(conn),
                sql_connections=set(),
                secspecs=await people_q.secspec_names(conn) | _names(data, "secspecs", "name"),
            )
        listed = data.get(SECRETS_FILE, {}).get("secrets") or []
        if not isinstance(listed, list):
            raise SwitchyardError(f"{directory / SECRETS_FILE}: secrets", "must be a list of names")
        missing = sorted(str(n) for n in listed if str(n) not in have_secrets)
        if missing:
            raise SwitchyardError(
                "secrets",
                f"not set in this store: {', '.join(missing)} (secrets travel by name only: "
                f"switchyard secret set {missing[0]})",
            )
        config = await asyncio.to_thread(node_config.read, self.data_dir)
        proc_rels = sorted(rel for rel in wanted if kind_of(rel) == "processes")
        names = {rel.split("/", 1)[1].removesuffix(".yaml").split("@")[0] for rel in proc_rels}
        known = dataclasses.replace(
            known,
            processes=set(known.processes or set()) | names,
            sql_connections=set(config.connections),
        )
        definitions = await asyncio.to_thread(_definitions, directory, proc_rels, known)
        changes = plan(current, wanted, prune=prune, me=self.user)
        for c in changes:
            if c.change == Change.CHANGED and kind_of(c.path) == "processes" and "@" in c.path:
                raise SwitchyardError(
                    str(directory / c.path),
                    "a published version cannot change (publish a new one: edit NAME.yaml)",
                )
        if dry_run:
            return ImportResult(str(directory), False, changes)
        todo = [c for c in changes if c.change != Change.UNCHANGED]
        async with self.tx() as tx:
            await apply_changes(
                tx,
                directory,
                [(c.path, c.change == Change.REMOVED) for c in todo],
                data,
                definitions,
                current_files=current,
                user=self.user,
            )
            counts = {k.value: sum(1 for c in changes if c.change == k) for k in Change}
            await self._audit(tx, "import", str(directory), **counts)
        return ImportResult(str(directory), True, changes)

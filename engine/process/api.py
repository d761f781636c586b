"""The process half of the engine's door: publish definitions, start, inspect, and the
operator's retry / skip. Mixed into ``Engine`` (engine/api.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.definitions import Definition, DefinitionError, Known, values
from switchyard.engine.definitions.model import Issue
from switchyard.engine.errors import Conflict, NotFound, SwitchyardError
from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition
from switchyard.engine.instances.waiting import shown_waiting
from switchyard.engine.kernel import config as node_config
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.ops import params as server_params
from switchyard.engine.people.rules import anyone, launch, licence, on_instance, rule
from switchyard.engine.process import start_driver, start_plan, starts
from switchyard.engine.process.views import (
    InstanceDetail,
    ProcessDetail,
    ProcessView,
    PublishResult,
    history_view,
    step_view,
)
from switchyard.engine.runs.api import RunsApi
from switchyard.engine.views import InstanceView, instance_view
from switchyard.store.models import (
    ERROR,
    QUEUED,
    STEP_ERROR,
    STEP_SKIPPED,
    STEP_STARTED,
)
from switchyard.store.queries import instance_vars as var_q
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import lanes as lane_q
from switchyard.store.queries import people as people_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import secrets as secret_q
from switchyard.store.queries import steps as step_q

FRAMES = "__frames__"
BUDGET = "__budget__"  # as engine/process/executor.py keeps it in the variables document


class ProcessApi(RunsApi):
    """Definitions and process instances; reads instances back through ``RunsApi``."""

    # ----------------------------------------------------------- definitions
    @rule(anyone)
    async def known_names(self) -> Known:
        async with self.store.read() as conn:
            lanes = {row["name"] for row in await lane_q.list_with_counts(conn)}
            secrets = {key for key, _ in await secret_q.list_keys(conn)}
            processes = await proc_q.names(conn)
            workgroups = await people_q.group_names(conn)
            users = await people_q.logins(conn)
            secspecs = await people_q.secspec_names(conn)
        config = await asyncio.to_thread(node_config.read, self.data_dir)
        connections = set(config.connections)
        return Known(
            lanes=lanes,
            secrets=secrets,
            workgroups=workgroups,
            users=users,
            processes=processes,
            sql_connections=connections,
            secspecs=secspecs,
        )

    @rule(licence("designer", "validate processes"))
    async def validate_files(self, paths: list[Path]) -> list[Definition]:
        """Every file checked; raises DefinitionError with the issues of all of them."""
        known = await self.known_names()
        # the files are read and parsed off the loop
        parsed, issues = await asyncio.to_thread(_load_files, paths, known)
        if issues:
            raise DefinitionError(issues)
        return parsed

    @rule(licence("designer", "publish processes"))
    async def publish(self, paths: list[Path]) -> list[PublishResult]:
        """All files or none: any error in any file publishes nothing."""
        definitions = await self.validate_files(paths)
        seen: dict[str, str] = {}
        for definition in definitions:
            if definition.name in seen:
                raise SwitchyardError(
                    "process",
                    f"'{definition.name}' is defined twice ({seen[definition.name]} and "
                    f"{definition.filename})",
                )
            seen[definition.name] = definition.filename
        results: list[PublishResult] = []
        async with self.tx() as tx:
            for definition in definitions:
                latest = await proc_q.latest(tx.conn, definition.name)
                warnings = [str(w) for w in definition.warnings]
                if latest is not None and latest["digest"] == definition.digest:
                    results.append(
                        PublishResult(
                            definition.name, latest["version"], definition.filename, False, warnings
                        )
                    )
                    continue
                _, version = await proc_q.add_version(
                    tx.conn,
                    name=definition.name,
                    digest=definition.digest,
                    filename=definition.filename,
                    source=definition.source,
                    doc=definition.doc,
                    now=tx.now,
                    user=self.user,
                )
                tx.emit(ev.PROCESS_PUBLISHED, definition.name, version=version, by=self.user)
                results.append(
                    PublishResult(definition.name, version, definition.filename, True, warnings)
                )
        return results

    @rule(anyone)
    async def processes(self) -> list[ProcessView]:
        async with self.store.read() as conn:
            rows = await proc_q.list_latest(conn)
        return [
            ProcessView(
                name=r["name"],
                version=r["version"],
                versions=int(r["versions"]),
                digest=r["digest"],
                description=(r["doc"] or {}).get("description"),
                filename=r["filename"],
                published_at=r["published_at"],
                published_by=r["published_by"],
            )
            for r in rows
        ]

    async def _definition(
        self, conn: AsyncConnection, name: str, version: int | None
    ) -> dict[str, Any]:
        row = (
            await proc_q.latest(conn, name)
            if version is None
            else await proc_q.get(conn, name, version)
        )
        if row is None:
            what = f"process '{name}'" + (f" version {version}" if version is not None else "")
            raise NotFound("process", f"unknown {what} (publish it: switchyard process publish)")
        return row

    @rule(anyone)
    async def process(self, name: str, version: int | None = None) -> ProcessDetail:
        async with self.store.read() as conn:
            r = await self._definition(conn, name, version)
        return ProcessDetail(
            name=r["name"],
            version=r["version"],
            digest=r["digest"],
            filename=r["filename"],
            published_at=r["published_at"],
            published_by=r["published_by"],
            source=r["source"],
            definition=r["doc"],
        )

    # ------------------------------------------------------------- starting
    @rule(launch, arg="name", revalidates=True)  # start_plan.py: the token read in its tx
    async def start_process(
        self,
        name: str,
        variables: dict[str, Any] | None = None,
        *,
        lane: str | None = None,
        version: int | None = None,
        origin: str = "manual",
        schedule: dict[str, Any] | None = None,
    ) -> int:
        cache = self.__dict__.get("_start_cache")
        if cache is None:
            cache = self.__dict__["_start_cache"] = start_plan.StartCache()
        if self.store.is_sqlite:
            fast = await self._start_on_driver(cache, name, variables, lane, version, origin)
            if fast is not None:
                return fast
        async with self.tx() as tx:
            params, definition, lane_name = await start_plan.plan(
                tx.conn, cache, name, version, lane, self.clock.now()
            )
            try:
                row = starts.instance_row(
                    definition,
                    variables or {},
                    lane=lane_name,
                    now=tx.now,
                    origin=origin,
                    originator=self.user,
                )
            except values.ValueProblem as exc:
                raise SwitchyardError("var", str(exc)) from exc
            starts.check_size(row["variables"], int(params["max_variables_bytes"]))
            (instance_id,) = await starts.insert_instances(tx.conn, [row])
            tx.emit(
                ev.INSTANCES_CHANGED,
                instance_id,
                ids=[instance_id],
                status=QUEUED,
                lane=lane_name,
            )
        return instance_id

    async def _start_on_driver(
        self,
        cache: start_plan.StartCache,
        name: str,
        variables: dict[str, Any] | None,
        lane: str | None,
        version: int | None,
        origin: str,
    ) -> int | None:
        """SQLite, everything cached: the start in one hand-off (start_driver.py); None
        (nothing written) when the ordinary path must run: something to read afresh, or
        a problem for it to report in its own order (variables, size, lane)."""
        ready = start_plan.ready(cache, name, version)
        if ready is None:
            return None
        params, definition = ready
        now = self.clock.now()
        try:
            row = starts.instance_row(
                definition,
                variables or {},
                lane=start_plan.lane_of(definition, lane),
                now=now,
                origin=origin,
                originator=self.user,
            )
            starts.check_size(row["variables"], int(params["max_variables_bytes"]))
        except (values.ValueProblem, SwitchyardError):
            return None
        driver = self.__dict__.get("_start_driver")
        if driver is None:
            driver = self.__dict__["_start_driver"] = start_driver.StartDriver()
        return await driver.start(self.store, self.bus, self.node_id, cache.token, row, now)

    @rule(launch, arg="process")
    async def start_many(
        self,
        process: str,
        rows: list[dict[str, Any]],
        *,
        lane: str | None = None,
        version: int | None = None,
        origin: str = "manual",
    ) -> list[int]:
        """Start one instance of ``process`` per dict of variables in ``rows``, all in one
        transaction: every row is checked against the definition first, and a bad one
        (``RowRefused``, naming its index) starts none. Returns the ids, in ``rows``' order."""
        if not rows:
            return []
        async with self.tx() as tx:
            params = await server_params.load(tx.conn)
            await starts.check_launch_allowed(tx.conn, params, self.clock.now())
            definition, lane_name = await starts.definition_and_lane(
                tx.conn, process, version, lane
            )
            made = starts.batch_rows(
                definition,
                rows,
                lane=lane_name,
                now=tx.now,
                origin=origin,
                originator=self.user,
                limit=int(params["max_variables_bytes"]),
            )
            ids = await starts.insert_instances(tx.conn, made)
            tx.emit(ev.INSTANCES_CHANGED, None, ids=ids, status=QUEUED, lane=lane_name)
        return ids

    # ------------------------------------------------------------- inspecting
    @rule(on_instance("view", "view"), arg="instance_id")
    async def instance_detail(self, instance_id: int) -> InstanceDetail:
        async with self.store.read() as conn:
            row = await inst_q.get(conn, instance_id)
            if row is None:
                raise NotFound("id", f"unknown instance {instance_id}")
            steps = await step_q.list_steps(conn, instance_id, limit=2000)
            history = await step_q.list_history(conn, instance_id, limit=2000)
            children = await inst_q.children(conn, instance_id)
        stored = {k: v for k, v in (row.get("variables") or {}).items() if not k.startswith("__")}
        stack = [s["path"] for s in steps if s["status"] == STEP_STARTED and s.get("decision")]
        mask = await self._masker(row)  # secured variables
        return InstanceDetail(
            instance=mask.view(instance_view(row)),
            version=row.get("process_version"),
            variables=mask.variables(stored),
            waiting_on=shown_waiting(row["status"], row.get("waiting_on")),
            wake_at=row.get("wake_at") if row["status"] == Status.WAITING else None,
            outcome=mask.optional(row.get("outcome")),
            error_step=row.get("error_step"),
            parent_id=row.get("parent_id"),
            children=[int(c["id"]) for c in children],
            call_stack=stack,
            steps=mask.steps([step_view(s) for s in steps]),
            history=mask.history([history_view(h) for h in history]),
        )

    # ------------------------------------------------------ operator actions
    async def _failed_process(self, tx: Tx, instance_id: int, what: str) -> dict[str, Any]:
        row = await inst_q.get(tx.conn, instance_id)
        if row is None:
            raise NotFound("id", f"unknown instance {instance_id}")
        if row["status"] != ERROR:
            raise Conflict("id", f"instance {instance_id} is {row['status']}: nothing to {what}")
        return row

    @rule(on_instance("manage", "retry"), arg="instance_id")
    async def retry(self, instance_id: int, set_vars: dict[str, str] | None = None) -> InstanceView:
        """Run the failed step again (after setting variables, if asked)."""
        async with self.tx() as tx:
            row = await self._failed_process(tx, instance_id, "retry")
            if row.get("definition_id") is None:
                raise Conflict("id", f"instance {instance_id} is a command run: start it again")
            stored = dict(row.get("variables") or {})
            if set_vars:
                definition = await proc_q.get_by_id(tx.conn, row["definition_id"])
                specs = (definition or {}).get("doc", {}).get("variables") or {}
                for name, value in set_vars.items():
                    if name not in specs:
                        raise SwitchyardError("set", f"{name}: unknown variable")
                    try:
                        stored[name] = values.to_json(values.coerce(value, specs[name]["type"]))
                    except values.ValueProblem as exc:
                        raise SwitchyardError("set", f"{name}: {exc}") from exc
            if set_vars:
                await _check_variables_size(tx.conn, stored, "set")
                await var_q.replace(tx.conn, instance_id, stored)
            budget = stored.get(BUDGET)
            if isinstance(budget, dict) and budget.get("exhausted"):  # raised once, no more
                stored[BUDGET] = {"grants": 1, "exhausted": False}
            if row.get("error_step"):
                await step_q.forget_step(tx.conn, instance_id, row["error_step"])
            await self._requeue(
                tx,
                row,
                stored,
                "retry",
                {
                    "step": row.get("error_step"),
                    "set": sorted(set_vars or {}),
                },
            )
        return await self.instance(instance_id)

    @rule(on_instance("manage", "skip"), arg="instance_id")
    async def skip(self, instance_id: int) -> InstanceView:
        """Mark the failed step done without running it, and go on after it."""
        async with self.tx() as tx:
            row = await self._failed_process(tx, instance_id, "skip")
            key = row.get("error_step")
            if row.get("definition_id") is None or not key:
                raise Conflict("id", f"instance {instance_id} has no failed step to skip")
            changed = await step_q.set_step(
                tx.conn,
                instance_id,
                key,
                {"status": STEP_SKIPPED, "ended_at": tx.now, "note": f"skipped by {self.user}"},
            )
            if not changed:
                raise Conflict("id", f"step {key} of instance {instance_id} is not recorded")
            await self._requeue(tx, row, dict(row.get("variables") or {}), "skip", {"step": key})
        return await self.instance(instance_id)

    async def _requeue(
        self,
        tx: Tx,
        row: dict[str, Any],
        stored: dict[str, Any],
        kind: str,
        detail: dict[str, Any],
    ) -> None:
        fields = {
            "variables": stored,
            "error_step": None,
            "ended_at": None,
            "cancel_requested": False,
            "queued_at": tx.now,
        }
        reason = f"{kind} by {self.user}"
        await transition(tx, row, Status.QUEUED, reason, expect=Status.ERROR, fields=fields)
        await step_q.add_history(tx.conn, row["id"], kind, tx.now, self.user, detail)


def _process_name(text: str) -> str | None:
    """The ``process:`` name in a definition's text (comments, quotes and all), if any."""
    import yaml  # here, like the parser: an engine that only reads needs neither
    from switchyard.engine.definitions import yamlsrc
    from yaml.nodes import MappingNode, ScalarNode

    if not yamlsrc.preflight(text, lambda *_: None):
        return None  # too large or too deep: load_file reports it
    try:
        root = yaml.compose(text, Loader=yamlsrc.Loader)  # a node tree: aliases unexpanded
    except yaml.YAMLError:
        return None
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if isinstance(key, ScalarNode) and key.value == "process":
                return str(value.value) if isinstance(value, ScalarNode) else None
    return None


__all__ = ["STEP_ERROR", "ProcessApi"]


async def _check_variables_size(
    conn: AsyncConnection, doc: dict[str, Any], field: str = "var"
) -> None:
    """SwitchyardError (nothing written) when ``doc`` is over max_variables_bytes."""
    starts.check_size(doc, int((await server_params.load(conn))["max_variables_bytes"]), field)


def _load_files(paths: list[Path], known: Known) -> tuple[list[Definition], list[Issue]]:
    """Read, parse and check definition files (blocking: called through to_thread)."""
    from switchyard.engine.definitions import load_file
    from switchyard.engine.definitions.parse import read_source

    names = set(known.processes or set())
    # processes published together may start each other
    for path in paths:
        try:
            text = read_source(path)  # bounded: a huge file is refused, not read
        except DefinitionError:
            continue  # reported below, by load_file
        name = _process_name(text)
        if name:
            names.add(name)
    known = dataclasses.replace(known, processes=names)
    parsed: list[Definition] = []
    issues: list[Issue] = []
    for path in paths:
        try:
            parsed.append(load_file(path, known))
        except DefinitionError as exc:
            issues.extend(exc.issues)
    return parsed, issues

"""What a running process instance may use from its node: commits, action contexts,
decisions for control flow, children, logs. The executor talks to the world only here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from switchyard.engine.actions import base as act
from switchyard.engine.definitions import values
from switchyard.engine.instances.ending import cancel_children, under, withdraw_items
from switchyard.engine.kernel import config as node_config
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.nodes import HOST
from switchyard.engine.kernel.ports import LogFiles, NodeAccess
from switchyard.engine.people.masking import TextMasker, secured_texts, secured_variables
from switchyard.engine.process import journal as j
from switchyard.engine.process import wakes
from switchyard.engine.process.executor import ProcessRun
from switchyard.engine.process.milestones import holding
from switchyard.engine.process.program import Program
from switchyard.engine.process.signals import Scope, StepFailed, Suspend
from switchyard.engine.process.steps_base import StepsBase
from switchyard.engine.process.writer import FailedWrite, GroupWriter
from switchyard.engine.runs.log_chunks import ChunkWriter
from switchyard.engine.sandbox.expressions import Sandbox
from switchyard.engine.workitems.create import RoutingProblem, create_item
from switchyard.engine.workitems.directive import SendWorkItem
from switchyard.store import filemodes
from switchyard.store.models import QUEUED, Instance, table_of
from switchyard.store.queries import instance_vars as var_q
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import workitems as wi_q

_TEXT_FIELDS = ("note", "error", "reason", "outcome", "detail")


@runtime_checkable
class HostPorts(NodeAccess, LogFiles, Protocol):
    """What a running process instance reaches through its host: reads, transactions
    (children, work items), the time, the bus (log lines), this node's id, log files and
    the data dir (the node's config)."""


class ProcessHost:
    def __init__(
        self,
        engine: HostPorts,
        writer: GroupWriter,
        *,
        secrets: dict[str, str],
        params: dict[str, Any],
        config: node_config.NodeConfig,
        chunks: ChunkWriter,
        kill_grace: float = 5.0,
        step_programs: bool = True,
    ) -> None:
        self.engine = engine
        self.writer = writer
        self.chunks = chunks  # log lines into the store, for readers on any host
        self.secrets = secrets
        self.masker = TextMasker(secrets.values())  # secrets, on every text written
        self.params = params
        self.kill_grace = kill_grace
        self.sandbox = Sandbox(now=engine.clock.now)
        self.config = config.tables  # read off the loop by the runtime (refresh_host)
        self.connections = config.connections
        self.step_programs = step_programs  # off: every step takes the walk (tests compare)
        self._programs: dict[int, Program] = {}  # by definition id (a published version)

    def program(self, definition: dict[str, Any]) -> Program | None:
        """The definition's step programs (program.py), compiled once per published
        version with this host's sandbox; None when step programs are off."""
        if not self.step_programs:
            return None
        key = int(definition.get("id") or 0)
        found = self._programs.get(key)
        if found is None or found.doc is not definition["doc"]:
            if len(self._programs) >= 512:  # a bound, not a policy: they are cheap to make
                self._programs.clear()
            found = self._programs[key] = Program(definition["doc"], self.sandbox)
        return found

    def now(self) -> datetime:
        return self.engine.clock.now()

    async def write(
        self,
        statements: list[j.Statement],
        events: Sequence[ev.EngineEvent] = (),
        *,
        owner: int | None = None,
    ) -> None:
        await self.writer.write(self.masked(statements), list(events), owner=owner)

    def failed_for(self, owner: int) -> FailedWrite | None:
        """A write of ``owner`` that failed after its task stopped awaiting it (settle)."""
        return self.writer.failed_for(owner)

    def holds_secret(self, value: Any) -> bool:
        """True when a secret's value (or a common transform of it) is inside ``value``."""
        return bool(self.masker) and self.masker.deep(value) != value

    def masked(self, statements: list[j.Statement]) -> list[j.Statement]:
        """Free text of steps and history (notes, errors, details) with no secret in it."""
        if not self.masker:
            return statements
        out: list[j.Statement] = []
        for stmt, params in statements:
            if isinstance(params, dict) and any(params.get(k) for k in _TEXT_FIELDS):
                params = {
                    k: self.masker.deep(v) if k in _TEXT_FIELDS and v else v
                    for k, v in params.items()
                }
            out.append((stmt, params))
        return out

    def changed_event(self, run: ProcessRun, **data: Any) -> ev.EngineEvent:
        return ev.EngineEvent(
            ev.INSTANCES_CHANGED,
            str(run.id),
            {"ids": [run.id], "status": "running", "lane": run.row["lane"], **data},
            self.engine.node_id,
        )

    async def others_queued(self, run: ProcessRun) -> bool:
        """Is another instance queued on this instance's lane (waiting for its slot)?"""
        table = table_of(Instance)
        stmt = (
            select(table.c.id)
            .where(
                table.c.lane == run.row["lane"],
                table.c.status == QUEUED,
                table.c.id != run.id,
            )
            .limit(1)
        )
        async with self.engine.store.read() as conn:
            return (await conn.execute(stmt)).first() is not None

    # ----------------------------------------------------------- scopes
    def mapping(self, run: StepsBase, scope: Scope) -> dict[str, Any]:
        return {
            **scope.data,
            **scope.bindings,
            "secret": self.secrets,
            "instance": {
                "id": run.id,
                "state": run.state,
                "process": run.doc["process"],
                # the milestones that hold now (``'booked' in instance.milestones``)
                "milestones": holding(run),
            },
        }

    def evaluate(self, run: StepsBase, expr: str, scope: Scope) -> Any:
        return self.sandbox.evaluate(expr, self.mapping(run, scope))

    def context(
        self, run: ProcessRun, key: str, scope: Scope, action: dict[str, Any]
    ) -> act.ActionContext:
        # Built for every step: what only some actions use (the log path, the secured
        # values to mask) is computed when first asked for (LazyExtra), not per step.
        def log_path() -> Path:
            return self.engine.log_path(run.id)

        async def log(lines: list[str]) -> None:
            await self.log_lines(run, lines)

        async def on_lines(lines: list[str]) -> None:
            self.engine.bus.publish(ev.EngineEvent(ev.INSTANCE_LOG, str(run.id), {"lines": lines}))
            await self.chunks.append(run.id, lines, where=f"{log_path()} on {HOST}")

        async def on_process_started(handle: Any) -> None:
            async with self.engine.tx() as tx:
                await inst_q.set_fields(
                    tx.conn,
                    run.id,
                    {
                        "pgid": handle.pgid,
                        "proc_start_time": handle.start_time,
                        "host": handle.host,
                        "log_path": str(log_path()),
                        "updated_at": tx.now,
                    },
                )

        return act.ActionContext(
            instance_id=run.id,
            step_key=key,
            scope=self.mapping(run, scope),
            evaluator=self.sandbox,
            secrets=self.secrets,
            log=log,
            data_dir=self.engine.data_dir,
            params=self.params,
            connections=self.connections,
            config=self.config,
            timeout=action.get("timeout"),
            now=self.now,
            on_process_started=on_process_started,
            node_id=self.engine.node_id,
            extra=act.LazyExtra(
                {"on_lines": on_lines, "kill_grace": self.kill_grace},
                {"log_path": log_path, "mask_values": lambda: self.secured_values(run)},
            ),
        )

    def secured_values(self, run: ProcessRun) -> list[str]:
        """Values of the instance's secured variables: masked in its log files for
        everyone (members see them in the variables, never in a log)."""
        return secured_texts(run.doc, values.to_json(run.vars))

    async def log_lines(self, run: ProcessRun, lines: list[str]) -> None:
        hidden = self.secured_values(run)
        masker = self.masker.with_secrets(hidden) if hidden else self.masker
        masked = [masker.mask(line) for line in lines]
        path = self.engine.log_path(run.id)
        await asyncio.to_thread(_append_lines, path, masked)  # off the loop
        self.engine.bus.publish(ev.EngineEvent(ev.INSTANCE_LOG, str(run.id), {"lines": masked}))
        await self.chunks.append(run.id, masked, where=f"{path} on {HOST}")

    def has_log(self, instance_id: int) -> bool:
        """Whether the instance wrote log lines here (closing its log may then yield)."""
        return self.chunks.has(instance_id)

    async def close_log(self, instance_id: int) -> None:
        """The instance stops running here (ended, waiting, stopped): its log lines reach
        the store before that is committed, so a follower that sees it has them all."""
        await self.chunks.close(instance_id)

    def report_rows(
        self, run: ProcessRun, updates: dict[str, Any], scope: Scope
    ) -> list[j.Statement]:
        """Reporting history keeps values only of variables declared ``report: true``."""
        if scope.data is not run.vars:
            return []
        now = self.now()
        return [
            j.history(run.id, "report", now, None, {"name": name, "value": values.to_json(value)})
            for name, value in updates.items()
            if (run.specs.get(name) or {}).get("report")
        ]

    # -------------------------------------------------------- decisions
    async def decide(
        self,
        run: ProcessRun,
        directive: act.Directive,
        action: dict[str, Any],
        key: str,
        scope: Scope,
    ) -> dict[str, Any]:
        if isinstance(directive, act.Enter):
            return {"type": "enter", "ref": directive.label}
        if isinstance(directive, act.Loop):
            if directive.items is not None:
                run.items[key] = values.to_json(directive.items)  # kept with the variables
                if directive.parallel:  # the count is the decision; values as above
                    return {
                        "type": "loop",
                        "items": True,
                        "as": directive.var,
                        "parallel": True,
                        "count": len(directive.items),
                        "max": directive.max_iterations,
                        "cap": directive.max_concurrency,
                        "join": directive.join,
                        "grows": directive.grows,
                    }
                return {"type": "loop", "items": True, "as": directive.var}
            return {"type": "loop", "while": directive.condition, "max": directive.max_iterations}
        if isinstance(directive, act.Parallel):
            started = []
            for index, branch in enumerate(directive.branches):
                if branch.when is None or self.evaluate(run, branch.when, scope):
                    started.append(index)
            decision: dict[str, Any] = {
                "type": "parallel",
                "started": started,
                "join": directive.join,
            }
            if not directive.cancel_rest:
                decision["cancel_rest"] = False
            if directive.interleaved:
                decision["interleaved"] = True
            return decision
        if isinstance(directive, act.WaitUntil):
            return {"type": "wait", "until": directive.at.isoformat()}
        if isinstance(directive, act.WaitCondition):
            return {
                "type": "wait",
                "condition": directive.condition,
                "every": directive.every,
                "deadline": directive.deadline.isoformat() if directive.deadline else None,
            }
        if isinstance(directive, act.CallTask):
            # the frame (inputs, locals) is committed with the step's start, in the
            # variables document; the journal keeps only the task's name
            run.frames[key] = run.new_frame(directive.task, directive.inputs)
            return {"type": "call", "task": directive.task, "into": directive.outputs}
        if isinstance(directive, act.StartChild):
            child = await self.start_child(run, directive, action, key)
            return {
                "type": "child",
                "child": child,
                "wait": directive.wait,
                "into": directive.outputs,
            }
        if isinstance(directive, SendWorkItem):
            try:
                item = await create_item(self.engine, run.row, run.doc, key, directive)
            except RoutingProblem as exc:
                raise StepFailed(key, action, f"send_work_item: {exc}") from exc
            return {"type": "workitem", "item": item}
        raise StepFailed(key, action, f"unknown directive {type(directive).__name__}")

    async def start_child(
        self, run: ProcessRun, directive: act.StartChild, action: dict[str, Any], key: str
    ) -> int:
        depth = int(run.row.get("depth") or 0) + 1
        limit = int(self.params.get("depth_threshold", 10))
        if depth > limit:
            raise StepFailed(
                key, action, f"subprocess nesting {depth} is deeper than depth_threshold {limit}"
            )
        fire_key = f"child:{run.id}:{key}"  # idempotent: a replay finds the same child
        async with self.engine.tx() as tx:
            if directive.version is None:
                definition = await proc_q.latest(tx.conn, directive.process)
            else:
                definition = await proc_q.get(tx.conn, directive.process, directive.version)
            if definition is None:
                raise StepFailed(key, action, f"unknown process '{directive.process}'")
            doc = definition["doc"]
            try:
                start_vars = values.initial(doc.get("variables") or {}, directive.variables)
            except values.ValueProblem as exc:
                raise StepFailed(key, action, f"start_process: {exc}") from exc
            row = {
                "fire_key": fire_key,
                "process": definition["name"],
                "definition_id": definition["id"],
                "process_version": definition["version"],
                "lane": doc.get("lane") or run.row["lane"],
                "status": QUEUED,
                "origin": "child",
                "originator": run.row.get("originator"),
                "queued_at": tx.now,
                "fire_at": tx.now,
                "updated_at": tx.now,
                "variables": values.to_json(start_vars),
                "command": [],
                "env": {},
                "current_state": doc["start"],
                "parent_id": run.id,
                "parent_step": key,
                "depth": depth,
                "reason": f"started by #{run.id}",
            }
            child_id = await inst_q.insert_one(tx.conn, row)
            if child_id is not None:
                await var_q.replace(tx.conn, child_id, row["variables"])
            if child_id is None:
                existing = await inst_q.get_by_fire_key(tx.conn, fire_key)
                assert existing is not None
                return int(existing["id"])
            tx.emit(ev.INSTANCES_CHANGED, child_id, ids=[child_id], status=QUEUED, lane=row["lane"])
            return child_id

    async def until_woken(self, suspend: Suspend) -> None:
        """A parallel branch that suspended beside a running sibling: return when it
        should look again (engine/process/wakes.py), or when one of the instance's
        milestones changes (``suspend.watch``, set by the run itself: never missed)."""
        if not suspend.watch:
            await wakes.until_woken(self.engine, suspend)
            return
        if any(e.is_set() for e in suspend.watch):
            return
        waiters: list[asyncio.Task[Any]] = [
            asyncio.create_task(wakes.until_woken(self.engine, suspend))
        ]
        waiters += [asyncio.create_task(e.wait()) for e in suspend.watch]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def withdraw_step(self, run: StepsBase, key: str, reason: str) -> list[int]:
        """A guarded step whose milestone was left: its open work item is withdrawn (and
        any child its button started cancelled). Returns the withdrawn items' ids (none
        when a person completed the item first: then it counts)."""
        where = under([key])
        async with self.engine.tx() as tx:
            ids = await withdraw_items(tx, run.id, reason, where)
            await cancel_children(tx, run.id, reason, where=where)
        return ids

    async def withdraw_branches(self, run: StepsBase, keys: list[str], reason: str) -> None:
        """Branches (step keys) that will not go on: their open work items are withdrawn
        and the children they started cancelled, with theirs (``instances/ending.py``)."""
        where = under(keys)
        async with self.engine.tx() as tx:
            await withdraw_items(tx, run.id, reason, where)
            await cancel_children(
                tx, run.id, f"its branch of #{run.id} was cancelled (another won)", where=where
            )

    async def work_item(self, item_id: int) -> dict[str, Any] | None:
        async with self.engine.store.read() as conn:
            return await wi_q.get(conn, item_id)

    async def child_status(
        self, child_id: int
    ) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        """The child's status, variables and secured variables (name -> spec)."""
        async with self.engine.store.read() as conn:
            row = await inst_q.get(conn, child_id)
            if row is None:
                return None
            definition = await proc_q.get_by_id(conn, row["definition_id"])
        secured = secured_variables((definition or {}).get("doc"))
        return row["status"], dict(row.get("variables") or {}), secured


def _append_lines(path: Path, lines: list[str]) -> None:
    """Append to an instance's log (0600), the same shape as a command's output."""
    with filemodes.open_private(path, "a", encoding="utf-8") as fh:
        fh.writelines(f"{line}\n" for line in lines)

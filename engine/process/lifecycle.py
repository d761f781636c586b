"""A claimed process instance from start to its next stop: completed, waiting, error,
cancelled or interrupted — each end committed with its history entry."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncConnection
from switchyard.engine.instances.status import Status
from switchyard.engine.instances.transition import transition, wake
from switchyard.engine.instances.view import InstanceState
from switchyard.engine.kernel import events as ev
from switchyard.engine.kernel.ports import HasNodeId, HasStore, Transactions
from switchyard.engine.kernel.tasks import one_line
from switchyard.engine.kernel.tx import Tx
from switchyard.engine.process import journal as j
from switchyard.engine.process.executor import ProcessRun
from switchyard.engine.process.host import ProcessHost
from switchyard.engine.process.signals import StepFailed, Suspend
from switchyard.engine.process.writer import LostOwnership, WriteFailed
from switchyard.store.models import (
    CANCELLED,
    COMPLETED,
    ERROR,
    STEP_CANCELLED,
    STEP_DONE,
    STEP_ERROR,
    STEP_STARTED,
    WI_OPEN,
)
from switchyard.store.queries import instance_vars as var_q
from switchyard.store.queries import instances as inst_q
from switchyard.store.queries import processes as proc_q
from switchyard.store.queries import steps as step_q
from switchyard.store.queries import workitems as wi_q

log = logging.getLogger(__name__)

YIELDED = "yielded"  # run_claimed's result for an instance that let its lane go on
MAX_OUTCOME = 200  # instances.outcome


class ProcessTask:
    """A running instance on this node; ``cancel`` stops it wherever it is."""

    def __init__(self, instance_id: int) -> None:
        self.instance_id = instance_id
        self.task: asyncio.Task[str] | None = None
        self.cancel_reason: str | None = None
        self.interrupt_reason: str | None = None
        # set by run_claimed where a stop is handled: a task cancelled before that (not
        # even begun) would end without a word and leave its instance running
        self.started = False

    async def cancel(self, reason: str = "cancelled") -> None:
        stopping = self.stopping()
        self.cancel_reason = self.cancel_reason or reason
        if self.task is not None and self.started and not stopping:
            self.task.cancel()

    async def interrupt(self, reason: str) -> None:
        stopping = self.stopping()
        self.interrupt_reason = self.interrupt_reason or reason
        if self.task is not None and self.started and not stopping:
            self.task.cancel()

    def stopping(self) -> bool:
        """Asked to stop already: the task is stopping (or stops as it begins). Asked
        again (the cancel watcher looks every few seconds) it is not cancelled a second
        time: that would break off its end (``_stopped``) halfway, and leave the
        instance running with nothing to end it."""
        return self.cancel_reason is not None or self.interrupt_reason is not None


@runtime_checkable
class LifecyclePorts(HasStore, Transactions, HasNodeId, Protocol):
    """Reads (the definition), transactions (each end), and this node's id (still mine?)."""


@runtime_checkable
class Committing(Transactions, HasNodeId, Protocol):
    """Transactions that check the instance still runs on this node."""


async def run_claimed(
    engine: LifecyclePorts,
    host: ProcessHost,
    row: dict[str, Any],
    me: ProcessTask,
    definition: dict[str, Any] | None = None,
    journal: dict[str, dict[str, Any]] | None = None,
) -> str:
    """Run a claimed instance; ``definition`` and ``journal`` may come pre-read."""
    instance_id = int(row["id"])
    if definition is None and row.get("definition_id") is not None:
        async with engine.store.read() as conn:
            definition = await proc_q.get_by_id(conn, int(row["definition_id"]))
    if row.get("start_problem"):
        async with engine.tx() as tx:
            await _end(tx, row, ERROR, f"cannot start: {row['start_problem']}")
        return ERROR
    journal = dict(journal or {})
    if definition is None:
        async with engine.tx() as tx:
            await _end(tx, row, ERROR, f"definition {row['definition_id']} is gone")
        return ERROR
    run = ProcessRun(host, row, definition["doc"], journal, host.program(definition))
    if row.get("resolved"):
        run.pending.append(
            j.bind_definition(instance_id, int(row["definition_id"]), int(row["process_version"]))
        )
    if not journal:  # committed with the first step
        detail = {"process": row.get("process"), "version": row.get("process_version")}
        run.pending.append(
            j.history(instance_id, "started", host.now(), row.get("originator"), detail)
        )
    host.failed_for(instance_id)  # one a run of it before this left unheard: not this run's
    try:
        return await _drive(engine, host, run, row, me)
    except WriteFailed as failed:
        await host.close_log(instance_id)
        return await _end_on_failed_write(engine, host, run, row, failed)


async def _drive(
    engine: LifecyclePorts, host: ProcessHost, run: ProcessRun, row: dict[str, Any], me: ProcessTask
) -> str:
    """Run the instance to its next stop and end it there (WriteFailed: see run_claimed)."""
    instance_id = run.id
    try:
        me.started = True
        if me.cancel_reason is not None or me.interrupt_reason is not None:
            raise asyncio.CancelledError  # asked to stop before it began: stop it now
        what, detail = await run.run()
    except LostOwnership:
        log.warning("instance %s was taken over by another node; this node stops it", instance_id)
        await host.close_log(instance_id)
        return "lost"
    except asyncio.CancelledError:
        if me.cancel_reason is None and me.interrupt_reason is None:
            raise
        await host.close_log(instance_id)
        return await _stopped(engine, run, row, me)
    except WriteFailed:
        raise
    except Exception as exc:  # a bug must not leave the instance running for ever
        log.exception("instance %s: executor failed", instance_id)
        await host.close_log(instance_id)
        async with engine.tx() as tx:
            reason = host.masker.mask(f"internal error: {type(exc).__name__}: {exc}")
            await _end(tx, row, ERROR, reason)
        return ERROR
    quick_end = (
        what == "completed"
        and not row.get("schedule_id")
        and not row.get("parent_id")
        and (not _leftovers(run))
    )
    if not (quick_end and not host.has_log(instance_id)) and not await _settled(run):
        # a state's last assign rides along with the completion's write (shares_commit);
        # anything that may yield before that write (a log to close, another end in a
        # transaction of its own) gets it, and every write handed over, committed first
        await host.close_log(instance_id)
        return "lost"
    await host.close_log(instance_id)  # its log lines in the store before its end or wait
    if what == "completed" and detail is not None and len(detail) > MAX_OUTCOME:
        detail = detail[: MAX_OUTCOME - 1] + "…"  # the column's size, on every backend
    if quick_end:
        # nothing to do after it (no chain, no parent, nothing left open): one
        # group-committed write, without the end hook
        now = host.now()
        # the completion sets what the pending instance update would (state, visit; the
        # rest it sets itself): one UPDATE of the row instead of two. That update is the
        # state's last step's, so its variables are the final ones (nothing ran since).
        touched = [params for stmt, params in run.pending if stmt is j.TOUCH_INSTANCE]
        final = touched[-1]["variables"] if touched else run.safe_variables()
        run.pending = j.without_touch(run.pending)
        state = (run.state, run.visit)
        await run._write(
            [
                j.complete(instance_id, outcome=detail, variables=final, now=now, state=state),
                j.history(instance_id, "completed", now, None, {"outcome": detail}),
                *j.index_variables(instance_id, final),
            ],
            [
                ev.EngineEvent(
                    ev.INSTANCES_CHANGED,
                    str(instance_id),
                    {"ids": [instance_id], "status": COMPLETED, "lane": row["lane"]},
                    engine.node_id,
                )
            ],
        )
        return COMPLETED
    if what == "completed":
        async with engine.tx() as tx:
            if not _mine(await inst_q.get(tx.conn, instance_id), engine):
                return "lost"
            await inst_q.set_fields(
                tx.conn, instance_id, {"outcome": detail, "variables": run.safe_variables()}
            )
            await var_q.replace(tx.conn, instance_id, run.safe_variables())
            await step_q.add_history(
                tx.conn, instance_id, "completed", tx.now, None, {"outcome": detail}
            )
            await _end(tx, row, COMPLETED, f"outcome: {detail}" if detail else None)
        return COMPLETED
    if what == "waiting":
        suspend: Suspend = detail
        async with engine.tx() as tx:
            current = await inst_q.get(tx.conn, instance_id)
            if not _mine(current, engine):
                return "lost"
            if current and current.get("cancel_requested"):  # asked while it was suspending
                await inst_q.set_fields(tx.conn, instance_id, {"variables": run.safe_variables()})
                await _end(tx, row, CANCELLED, "cancelled")
                return CANCELLED
            await transition(
                tx,
                row,
                Status.WAITING,
                expect=Status.RUNNING,
                waiting_on=suspend.waiting_on,
                wake_at=suspend.wake_at,
                fields={"variables": run.safe_variables()},
            )
            await var_q.replace(tx.conn, instance_id, run.safe_variables())
        if suspend.waiting_on.children:  # a child may have ended already
            await _wake_if_child_done(engine, instance_id, suspend.waiting_on.children)
        if suspend.waiting_on.work_items:  # or a person was quicker than this commit
            await _wake_if_item_done(engine, instance_id, suspend.waiting_on.work_items)
        if suspend.waiting_on.is_yield:  # stepped aside: the runtime queues it again
            return YIELDED
        return Status.WAITING
    failed: StepFailed = detail
    async with engine.tx() as tx:
        if not _mine(await inst_q.get(tx.conn, instance_id), engine):
            return "lost"
        await step_q.set_step(
            tx.conn,
            instance_id,
            failed.key,
            {"status": STEP_ERROR, "error": failed.message, "ended_at": tx.now},
        )
        if await step_q.get_step(tx.conn, instance_id, failed.key) is None:
            await _insert_failed(tx, instance_id, failed)
        await inst_q.set_fields(
            tx.conn,
            instance_id,
            {"error_step": failed.key, "variables": run.safe_variables()},
        )
        await var_q.replace(tx.conn, instance_id, run.safe_variables())
        await step_q.add_history(
            tx.conn,
            instance_id,
            "error",
            tx.now,
            None,
            {"step": failed.key, "path": failed.action.get("path"), "error": failed.message},
        )
        await _end(tx, row, ERROR, f"{failed.action.get('path')}: {failed.message}")
    return ERROR


async def _insert_failed(tx: Tx, instance_id: int, failed: StepFailed) -> None:
    from switchyard.engine.process import journal as j

    stmt, params = j.step_row(
        instance_id, failed.key, failed.action, status=STEP_ERROR, now=tx.now, ended=True
    )
    params["error"] = failed.message
    await tx.conn.execute(stmt, params)


async def _stopped(
    engine: Committing, run: ProcessRun, row: dict[str, Any], me: ProcessTask
) -> str:
    instance_id = run.id
    if not await _settled(run):
        return "lost"
    async with engine.tx() as tx:
        if not _mine(await inst_q.get(tx.conn, instance_id), engine):
            return "lost"
        in_flight = [k for k, e in run.journal.items() if e.get("status") == STEP_STARTED]
        await var_q.replace(tx.conn, instance_id, run.safe_variables())
        if me.cancel_reason is None:  # what a dead node left in flight stays so: not killed
            in_flight = [k for k in in_flight if k not in run.inherited]
        if me.cancel_reason is not None:
            for key in in_flight:
                await step_q.set_step(
                    tx.conn, instance_id, key, {"status": STEP_CANCELLED, "ended_at": tx.now}
                )
            await inst_q.set_fields(tx.conn, instance_id, {"variables": run.safe_variables()})
            await _end(tx, row, CANCELLED, me.cancel_reason)
            return CANCELLED
        # interrupted (node stopping): the step in flight is the one to retry: an action
        # that was running (no decision), never a control-flow step above it or beside it
        # (a retry forgets the step it names: a call's frame, a loop's items, a join's
        # winners would be taken anew). None when no action ran: the retry resumes.
        leaves = [k for k in in_flight if not run.journal[k].get("decision")]
        leaf = max(leaves, key=len) if leaves else None
        await inst_q.set_fields(
            tx.conn, instance_id, {"variables": run.safe_variables(), "error_step": leaf}
        )
        if leaf:
            await step_q.set_step(
                tx.conn, instance_id, leaf, {"status": STEP_ERROR, "error": me.interrupt_reason}
            )
        for key in in_flight:  # other commands this stop killed (parallel branches): over,
            if key != leaf and not run.journal[key].get("decision"):  # so the retry reruns them
                await step_q.set_step(
                    tx.conn, instance_id, key, {"status": STEP_CANCELLED, "ended_at": tx.now}
                )
        await _end(tx, row, ERROR, me.interrupt_reason)
    return ERROR


async def _end_on_failed_write(
    engine: Committing, host: ProcessHost, run: ProcessRun, row: dict[str, Any], failed: WriteFailed
) -> str:
    """A write of the run failed after its task stopped awaiting it (writer.py): the run's
    variables hold its step, the journal does not. Whatever end was coming (completion,
    wait, error, cancel, stop), the instance ends in error naming that step and the
    database error, and keeps the variables as last committed (the instance row's: no
    later write of it was accepted), so that a retry runs the step once, from a state that
    agrees with the journal. A step of it whose start was committed (an action that may
    have acted) is the failed step (retry or skip); the commands the stop killed are
    cancelled, so a retry runs them again."""
    instance_id = run.id
    keys = j.step_keys(failed.failure.statements)
    error = host.masker.mask(_driver_error(failed.failure.error))
    reason = f"{', '.join(keys) or 'a step'}: not written: {error}"
    async with engine.tx() as tx:
        current = await inst_q.get(tx.conn, instance_id)
        if current is None or not _mine(current, engine):
            return "lost"
        await var_q.replace(tx.conn, instance_id, dict(current.get("variables") or {}))
        failed_step = None
        for key in keys:
            step = await step_q.get_step(tx.conn, instance_id, key)
            if step and step["status"] == STEP_STARTED and not step.get("decision"):
                failed_step = key
                await step_q.set_step(
                    tx.conn, instance_id, key, {"status": STEP_ERROR, "error": reason}
                )
                break
        killed = [
            key
            for key, entry in run.journal.items()
            if entry.get("status") == STEP_STARTED
            and not entry.get("decision")
            and key != failed_step
            and key not in run.inherited
        ]
        for key in killed:
            await step_q.set_step(
                tx.conn, instance_id, key, {"status": STEP_CANCELLED, "ended_at": tx.now}
            )
        await inst_q.set_fields(tx.conn, instance_id, {"error_step": failed_step})
        await step_q.add_history(
            tx.conn,
            instance_id,
            "error",
            tx.now,
            None,
            {"step": keys[0] if keys else None, "steps": keys, "error": error},
        )
        await _end(tx, row, ERROR, reason)
    log.warning("instance %s: %s", instance_id, reason)
    return ERROR


def _driver_error(exc: Exception, limit: int = 200) -> str:
    """A database error in one line (``one_line``) of the driver's own message, not the
    statement and its parameters that SQLAlchemy adds, cut at ``limit``."""
    orig = getattr(exc, "orig", None)
    return one_line(orig if isinstance(orig, Exception) else exc)[:limit]


async def _settled(run: ProcessRun) -> bool:
    """``run.settle()``: False when another node took the instance over meanwhile
    (WriteFailed goes up to run_claimed)."""
    try:
        await run.settle()
    except LostOwnership:
        log.warning("instance %s was taken over by another node; this node stops it", run.id)
        return False
    return True


def _leftovers(run: ProcessRun) -> bool:
    """Whether the end hook has something to do for a completing instance: steps still
    under way (a branch's wait when another ended the instance), or work items or
    children that may be open (their steps did not finish)."""
    for entry in run.journal.values():
        if entry.get("status") == STEP_STARTED:
            return True
        kind = (entry.get("decision") or {}).get("type")
        if kind in ("workitem", "child") and entry.get("status") != STEP_DONE:
            return True
    return False


def _mine(current: dict[str, Any] | None, engine: HasNodeId) -> bool:
    """Still running on this node? (Another node may have restored it meanwhile.)"""
    return current is not None and InstanceState.of(current).running_on(engine.node_id)


async def _end(tx: Tx, row: dict[str, Any], status: str, reason: str | None) -> bool:
    return await transition(
        tx, row, Status(status), reason, expect=Status.RUNNING, only_node=row.get("node_id")
    )


async def _wake_if_child_done(
    engine: Transactions, parent_id: int, child_ids: tuple[int, ...]
) -> None:
    """The parent waits on these children: one that already ended wakes it (its end hook
    found the parent still running and could not)."""
    async with engine.tx() as tx:
        for child_id in child_ids:
            child = await inst_q.get(tx.conn, child_id)
            if child is not None and InstanceState.of(child).status.ended:
                await wake(tx, parent_id)
                return


async def _wake_if_item_done(
    engine: Transactions, instance_id: int, item_ids: tuple[int, ...]
) -> None:
    async with engine.tx() as tx:
        for item_id in item_ids:
            item = await wi_q.get(tx.conn, item_id)
            if item is not None and item["status"] not in WI_OPEN:
                await wake(tx, instance_id)
                return


async def resolve_definition(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """A process schedule's fire names its process: bind it to the newest version and
    type its variables (in ``row``; committed with the first step). A problem (the process
    was removed, a variable no longer fits) is kept in ``row["start_problem"]``."""
    from switchyard.engine.definitions import values

    definition = await proc_q.latest(conn, row["process"])
    if definition is None:
        row["start_problem"] = f"unknown process '{row['process']}'"
        return
    try:
        typed = values.initial(definition["doc"].get("variables") or {}, row.get("variables") or {})
    except values.ValueProblem as exc:
        row["start_problem"] = str(exc)
        return
    row.update(
        definition_id=definition["id"],
        process_version=definition["version"],
        variables=values.to_json(typed),
        current_state=row.get("current_state") or definition["doc"]["start"],
        resolved=True,
    )

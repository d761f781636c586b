"""Which port each part of the engine takes, and mypy's proof that ``Engine`` provides
them all.

A part declares what it uses of the engine as a Protocol (engine/kernel/ports.py has the
atoms; a part's own combination lives beside it). ``provides`` below assigns an
``Engine`` to each of them: ``bash .ci/mypy`` fails when the facade stops satisfying a
port (a method renamed, a type changed). tests/engine/test_ports.py checks that ``PORTS``
names every port defined in the engine, that ``provides`` assigns each, and that a real
engine has every member at run time.
"""

from __future__ import annotations

from switchyard.engine.api import Engine
from switchyard.engine.kernel.ports import (
    HasBus,
    HasClock,
    HasLogin,
    HasNodeId,
    HasStore,
    LogFiles,
    NodeAccess,
    SecretValues,
    StoreAccess,
    Transactions,
)
from switchyard.engine.node.recovery import RecoveryPorts
from switchyard.engine.node.runtime import RuntimePorts
from switchyard.engine.node.sessions import SessionPorts
from switchyard.engine.people.rules import Checked
from switchyard.engine.process.host import HostPorts
from switchyard.engine.process.lifecycle import Committing, LifecyclePorts
from switchyard.engine.process.wakes import WakePorts
from switchyard.engine.process.writer import WriterPorts
from switchyard.engine.runs.dispatcher import DispatcherPorts
from switchyard.engine.runs.execution import ExecutionPorts
from switchyard.engine.runs.log_chunks import ChunkWriterPorts
from switchyard.engine.schedules.scheduler import SchedulerPorts

#: every port a part takes from the engine (the test finds any that is missing here)
PORTS: tuple[type, ...] = (
    HasStore,
    HasClock,
    HasBus,
    HasNodeId,
    Transactions,
    HasLogin,
    LogFiles,
    SecretValues,
    StoreAccess,
    NodeAccess,
    Checked,
    SchedulerPorts,
    DispatcherPorts,
    ExecutionPorts,
    ChunkWriterPorts,
    WriterPorts,
    LifecyclePorts,
    Committing,
    HostPorts,
    RecoveryPorts,
    SessionPorts,
    RuntimePorts,
    WakePorts,
)


def provides(engine: Engine) -> list[object]:
    """Never called: mypy checks that each assignment type-checks."""
    has_store: HasStore = engine
    has_clock: HasClock = engine
    has_bus: HasBus = engine
    has_node_id: HasNodeId = engine
    transactions: Transactions = engine
    has_login: HasLogin = engine
    log_files: LogFiles = engine
    secret_values: SecretValues = engine
    store_access: StoreAccess = engine
    node_access: NodeAccess = engine
    checked: Checked = engine
    scheduler: SchedulerPorts = engine
    dispatcher: DispatcherPorts = engine
    execution: ExecutionPorts = engine
    chunk_writer: ChunkWriterPorts = engine
    writer: WriterPorts = engine
    lifecycle: LifecyclePorts = engine
    committing: Committing = engine
    host: HostPorts = engine
    recovery: RecoveryPorts = engine
    session: SessionPorts = engine
    runtime: RuntimePorts = engine
    wake: WakePorts = engine
    return [
        has_store,
        has_clock,
        has_bus,
        has_node_id,
        transactions,
        has_login,
        log_files,
        secret_values,
        store_access,
        node_access,
        checked,
        scheduler,
        dispatcher,
        execution,
        chunk_writer,
        writer,
        lifecycle,
        committing,
        host,
        recovery,
        session,
        runtime,
        wake,
    ]

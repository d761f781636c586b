"""Every table Switchyard stores, in one place.

Times are stored as UTC and always read back as aware UTC datetimes (``UTCDateTime``),
whatever the backend does with time zones. JSON columns hold small documents only
(argv lists, env maps, trigger fields); anything a screen filters on has its own column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel
from switchyard.store import core as _core

# the words and the column type that readers without these classes share (store/core.py)
ACTIVE_STATUSES = _core.ACTIVE_STATUSES
ALL_PROCESSES = _core.ALL_PROCESSES
CANCELLED = _core.CANCELLED
COMPLETED = _core.COMPLETED
ERROR = _core.ERROR
FAILED = _core.FAILED
LICENCES = _core.LICENCES
MISSED = _core.MISSED
QUEUED = _core.QUEUED
RUNNING = _core.RUNNING
SKIPPED = _core.SKIPPED
SUBJECT_GROUP = _core.SUBJECT_GROUP
SUBJECT_USER = _core.SUBJECT_USER
TERMINAL_STATUSES = _core.TERMINAL_STATUSES
WAITING = _core.WAITING
UTCDateTime = _core.UTCDateTime


def table_of(model: type[SQLModel]) -> Table:
    """The Core ``Table`` of a table model (``Model.__table__``, which SQLModel leaves untyped)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Lane(SQLModel, table=True):
    __tablename__ = "lanes"

    name: str = Field(primary_key=True, max_length=100)
    concurrency: int = Field(default=1)
    created_at: datetime | None = utc_column()


class Schedule(SQLModel, table=True):
    __tablename__ = "schedules"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    trigger: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    lane: str = Field(default="default", max_length=100)
    overlap: str = Field(default="queue", max_length=20)  # queue | skip | parallel
    overlap_limit: int = Field(default=1)
    misfire: str = Field(default="once", max_length=10)  # once | each | skip
    misfire_limit: int = Field(default=100)
    after: str | None = Field(default=None, max_length=200)  # chain: start after this schedule
    command: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    shell: bool = Field(default=False)
    cwd: str | None = Field(default=None)
    env: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timeout_seconds: float | None = Field(default=None)
    process: str | None = Field(default=None, max_length=200)  # starts a process, not a command
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    paused: bool = Field(default=False)
    next_fire_at: datetime | None = utc_column(index=True)
    last_fire_at: datetime | None = utc_column()
    last_status: str | None = Field(default=None, max_length=20)
    created_at: datetime | None = utc_column()
    updated_at: datetime | None = utc_column()


class Instance(SQLModel, table=True):
    __tablename__ = "instances"
    __table_args__ = (
        Index("ix_instances_lane_status_id", "lane", "status", "id"),
        Index("ix_instances_schedule_status", "schedule_id", "status"),
        Index("ix_instances_status_updated", "status", "updated_at"),
        Index("ix_instances_node_status", "node_id", "status"),
        # the monitor: a process's instances by status, newest first; only process
        # instances (every monitor query says so), so counting for the cap reads the index
        # alone (migration 0008)
        Index(
            "ix_instances_process_status_updated",
            "process",
            "status",
            "updated_at",
            sqlite_where=text("definition_id IS NOT NULL"),
            postgresql_where=text("definition_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # One instance per (schedule, fire time): two nodes firing the same schedule insert once.
    fire_key: str | None = Field(default=None, max_length=300, unique=True)
    schedule_id: int | None = Field(default=None)
    schedule_name: str | None = Field(default=None, max_length=200)
    process: str | None = Field(default=None, max_length=200)
    lane: str = Field(default="default", max_length=100)
    status: str = Field(default=QUEUED, max_length=20)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    overlap_limit: int = Field(default=0)  # 0 = no per-schedule limit
    fire_at: datetime | None = utc_column()
    queued_at: datetime | None = utc_column()
    started_at: datetime | None = utc_column()
    ended_at: datetime | None = utc_column()
    updated_at: datetime | None = utc_column()
    exit_code: int | None = Field(default=None)
    origin: str = Field(default="schedule", max_length=20)  # schedule | manual | chain | misfire
    originator: str | None = Field(default=None, max_length=100)
    command: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    shell: bool = Field(default=False)
    cwd: str | None = Field(default=None)
    env: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timeout_seconds: float | None = Field(default=None)
    current_state: str | None = Field(default=None, max_length=200)
    current_action: str | None = Field(default=None, max_length=200)
    node_id: str | None = Field(default=None, max_length=64)
    host: str | None = Field(default=None, max_length=255)
    pgid: int | None = Field(default=None)
    proc_start_time: float | None = Field(default=None)
    cancel_requested: bool = Field(default=False)
    log_path: str | None = Field(default=None)
    # Process instances (definition_id set); a plain command instance leaves these empty.
    definition_id: int | None = Field(default=None)
    process_version: int | None = Field(default=None)
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    visit: int = Field(default=0)  # how many times the instance entered a state (step keys)
    waiting_on: str | None = Field(default=None, max_length=200)  # timer | condition | child:ID
    wake_at: datetime | None = utc_column(index=True)
    parent_id: int | None = Field(default=None, index=True)
    parent_step: str | None = Field(default=None, max_length=500)
    depth: int = Field(default=0)
    outcome: str | None = Field(default=None, max_length=200)
    error_step: str | None = Field(default=None, max_length=500)


class Secret(SQLModel, table=True):
    __tablename__ = "secrets"

    key: str = Field(primary_key=True, max_length=200)
    ciphertext: bytes
    updated_at: datetime | None = utc_column()


class Node(SQLModel, table=True):
    __tablename__ = "nodes"

    id: str = Field(primary_key=True, max_length=64)
    mode: str = Field(max_length=20)  # serve | console
    host: str = Field(max_length=255)
    pid: int
    proc_start_time: float | None = Field(default=None)
    # the inode of /proc/PID/ns/pid: same host name, other pid namespace (containers on
    # the host's network) -> its pid means nothing here (migration 0010)
    pid_ns: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    started_at: datetime | None = utc_column()
    heartbeat_at: datetime | None = utc_column()
    stopped_at: datetime | None = utc_column()
    restoring: bool = Field(default=False)  # restoring dead nodes' work (block_launch...)
    # `switchyard node drain`: set by whoever asks, read by the node at its heartbeat
    draining_at: datetime | None = utc_column()
    drain_grace: float | None = Field(default=None)


class Event(SQLModel, table=True):
    """The cross-process change feed: every state change writes one row."""

    __tablename__ = "events"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    at: datetime | None = utc_column(index=True)
    kind: str = Field(max_length=50)
    entity_id: str | None = Field(default=None, max_length=200)
    node_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Param(SQLModel, table=True):
    """Stored server parameters (name -> JSON value)."""

    __tablename__ = "params"

    name: str = Field(primary_key=True, max_length=100)
    value: Any = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime | None = utc_column()


class ProcessDefinition(SQLModel, table=True):
    """One published version of a process. Published versions are never changed."""

    __tablename__ = "process_definitions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_process_definitions_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    version: int
    digest: str = Field(max_length=64)
    filename: str | None = Field(default=None)
    source: str = Field(sa_column=Column(Text, nullable=False))
    doc: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    published_at: datetime | None = utc_column()
    published_by: str | None = Field(default=None, max_length=100)


# Step (journal) statuses
STEP_STARTED = "started"
STEP_DONE = "done"
STEP_ERROR = "error"
STEP_SKIPPED = "skipped"
STEP_CANCELLED = "cancelled"


class Step(SQLModel, table=True):
    """The journal of a process instance: one row per action execution, keyed so a step
    can be recorded once only. Holds positions and decisions, never variable values."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("instance_id", "key", name="uq_steps_instance_key"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    instance_id: int = Field(index=True)
    key: str = Field(max_length=500)
    kind: str = Field(max_length=50)
    path: str = Field(max_length=500)  # where in the definition: states.pay.actions[0]
    label: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=20)
    attempt: int = Field(default=1)
    started_at: datetime | None = utc_column()
    ended_at: datetime | None = utc_column()
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    note: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))


class HistoryEntry(SQLModel, table=True):
    """Audit and reporting history of an instance: who did what, when; values only of
    variables marked ``report: true``."""

    __tablename__ = "instance_history"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    instance_id: int = Field(index=True)
    at: datetime | None = utc_column()
    kind: str = Field(max_length=50)
    user: str | None = Field(default=None, max_length=100)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class User(SQLModel, table=True):
    """A Switchyard user: an OS login (no passwords are stored)."""

    __tablename__ = "users"

    login: str = Field(primary_key=True, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    licence: str = Field(default="direct", max_length=20)  # one of LICENCES
    admin: bool = Field(default=False)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime | None = utc_column()


class Group(SQLModel, table=True):
    """A workgroup: work items are routed to it, rights and security specs name it."""

    __tablename__ = "groups"

    name: str = Field(primary_key=True, max_length=100)
    created_at: datetime | None = utc_column()


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_members"

    group: str = Field(primary_key=True, max_length=100)
    login: str = Field(primary_key=True, max_length=100, index=True)


class Right(SQLModel, table=True):
    """Launch / view / manage on one process (or "*") for one user or group."""

    __tablename__ = "rights"
    __table_args__ = (
        UniqueConstraint("process", "subject_kind", "subject", name="uq_rights_process_subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    process: str = Field(max_length=200, index=True)  # a process name or ALL_PROCESSES
    subject_kind: str = Field(max_length=10)  # SUBJECT_USER | SUBJECT_GROUP
    subject: str = Field(max_length=100)
    launch: bool = Field(default=False)
    view: bool = Field(default=False)
    manage: bool = Field(default=False)
    updated_at: datetime | None = utc_column()
    updated_by: str | None = Field(default=None, max_length=100)


class SecSpec(SQLModel, table=True):
    """A security specification: the users, groups and roles that may see a variable."""

    __tablename__ = "secspecs"

    name: str = Field(primary_key=True, max_length=100)
    users: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime | None = utc_column()


class AuditEntry(SQLModel, table=True):
    """Who did what as whom: impersonation, refusals, changes to people and rights."""

    __tablename__ = "audit_log"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    at: datetime | None = utc_column(index=True)
    login: str = Field(max_length=100, index=True)  # the OS login that acted
    as_login: str | None = Field(default=None, max_length=100)  # whom it acted as (--as)
    action: str = Field(max_length=50)
    target: str | None = Field(default=None, max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# Work item statuses (WS-HumanTask style). Open ones wait for a person.
WI_QUEUED = "queued"  # in a workgroup, nobody has picked it up
WI_OFFERED = "offered"  # sent (or delegated) to one user, not yet picked up
WI_IN_PROGRESS = "in progress"  # picked up (claimed) by its user
WI_HELD = "held"  # put aside, or brought back after a crash/restart; keeps user and draft
WI_COMPLETED = "completed"
WI_CANCELLED = "cancelled"
WI_OPEN = (WI_QUEUED, WI_OFFERED, WI_IN_PROGRESS, WI_HELD)


class WorkItem(SQLModel, table=True):
    """A form waiting for a person, created by ``send_work_item``; its instance waits on it.
    ``draft`` holds typed values until a button completes it (then ``values`` and
    ``button``). ``timer_at`` is its next due/reminder/escalation time."""

    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("instance_id", "step_key", name="uq_work_items_instance_step"),
        Index("ix_work_items_status_user", "status", "user"),
        Index("ix_work_items_status_workgroup", "status", "workgroup"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(index=True)
    step_key: str = Field(max_length=500)
    process: str = Field(max_length=200)
    form: str = Field(max_length=100)
    title: str = Field(default="", max_length=300)
    status: str = Field(max_length=20)
    user: str | None = Field(default=None, max_length=100)  # owner (offered/claimed/held)
    workgroup: str | None = Field(default=None, max_length=100)
    priority: int = Field(default=3)  # 1 (highest) .. 5
    due_at: datetime | None = utc_column()
    timer_at: datetime | None = utc_column(index=True)
    timers: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    escalated: bool = Field(default=False)
    session: str | None = Field(default=None, max_length=100)  # node of the console that claimed
    draft: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    values: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    button: str | None = Field(default=None, max_length=200)
    held_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime | None = utc_column()
    updated_at: datetime | None = utc_column()
    completed_at: datetime | None = utc_column()
    completed_by: str | None = Field(default=None, max_length=100)


class InstanceVar(SQLModel, table=True):
    """The indexed home of process variables for monitor filters (``amount > 1000``,
    ``employee = "Ann"``): one row per scalar variable of an instance, kept in step with
    the variables document by the executor's writes. ``num`` holds numbers (and booleans
    as 0/1), ``text`` the value as text (dates ISO), so both compare in SQL."""

    __tablename__ = "instance_vars"
    __table_args__ = (
        Index("ix_instance_vars_name_num", "name", "num", "instance_id"),
        Index("ix_instance_vars_name_text", "name", "text", "instance_id"),
        # SQLite: the key is the table, so a condition's check per instance is one seek
        # (migration 0009)
        {"sqlite_with_rowid": False},
    )

    instance_id: int = Field(primary_key=True)
    name: str = Field(primary_key=True, max_length=100)
    num: float | None = Field(default=None)
    text: str | None = Field(default=None, max_length=200)


class SavedFilter(SQLModel, table=True):
    """A monitor filter a user saved by name."""

    __tablename__ = "saved_filters"

    login: str = Field(primary_key=True, max_length=100)
    name: str = Field(primary_key=True, max_length=100)
    filter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime | None = utc_column()


class EventLogEntry(SQLModel, table=True):
    """The operator's event log: node start/stop, restores, ownership changes, refused
    filters, parameter and secret changes (never values), refusals."""

    __tablename__ = "event_log"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    at: datetime | None = utc_column(index=True)
    kind: str = Field(max_length=50, index=True)
    node_id: str | None = Field(default=None, max_length=64)
    login: str | None = Field(default=None, max_length=100)
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class TimerRun(SQLModel, table=True):
    """A forced timer run under way (``timers run``): one row per timer key while it runs,
    so a second run of the same timer is refused with "already running"."""

    __tablename__ = "timer_runs"

    key: str = Field(primary_key=True, max_length=200)  # instance:12 | workitem:3 | schedule:n
    node_id: str | None = Field(default=None, max_length=64)
    login: str | None = Field(default=None, max_length=100)
    started_at: datetime | None = utc_column()


class LogChunk(SQLModel, table=True):
    """An instance's log lines in the store, so any host can read them (the node that ran
    the instance also keeps ``<data dir>/logs/<id>.log``). Lines are masked before they are
    written; ``seq`` orders an instance's chunks (1, 2, ...). A chunk holds the lines one
    node flushed together, joined by newlines; ``chars`` counts them like the file's cap."""

    __tablename__ = "log_chunks"

    instance_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    lines: str = Field(default="", sa_column=Column(Text, nullable=False))
    line_count: int = Field(default=0)
    chars: int = Field(default=0)
    created_at: datetime | None = utc_column(index=True)

"""What a user asks for when adding or editing a schedule, checked field by field.

Every check raises ``SwitchyardError(field, message)`` naming the CLI option or form field,
so `switchyard schedule add` and the console's form show the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from switchyard.engine.errors import SwitchyardError
from switchyard.engine.schedules.triggers import Trigger, TriggerError, parse_duration

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_PREFIX = "secret:"
SECRET_FILE_PREFIX = "secretfile:"
MAX_MISFIRE_EACH = 1000


def check_name(value: str, field_name: str = "name") -> str:
    if not NAME.match(value or ""):
        raise SwitchyardError(
            field_name,
            f"'{value}' is not a valid name: start with a letter or digit, then letters, "
            "digits, _ . : - (at most 200)",
        )
    return value


def parse_overlap(text: str) -> tuple[str, int]:
    value = (text or "queue").strip().lower()
    if value in ("queue", "skip"):
        return value, 1
    m = re.fullmatch(r"parallel(?::(\d+))?", value)
    if m and m.group(1) and int(m.group(1)) >= 1:
        return "parallel", int(m.group(1))
    raise SwitchyardError(
        "overlap", f"'{text}' is not an overlap policy: use queue, skip or parallel:N (N >= 1)"
    )


def parse_misfire(text: str) -> tuple[str, int]:
    value = (text or "once").strip().lower()
    if value in ("once", "skip"):
        return value, 100
    m = re.fullmatch(r"each(?::(\d+))?", value)
    if m:
        limit = int(m.group(1) or 100)
        if 1 <= limit <= MAX_MISFIRE_EACH:
            return "each", limit
    raise SwitchyardError(
        "misfire",
        f"'{text}' is not a misfire policy: use once, skip or each[:N] (1 <= N <= "
        f"{MAX_MISFIRE_EACH}, default 100)",
    )


def parse_env(items: list[str] | dict[str, str]) -> dict[str, str]:
    """``K=V`` items -> a dict. ``secret:KEY`` and ``secretfile:KEY`` values are references."""
    pairs = list(items.items()) if isinstance(items, dict) else []
    if not isinstance(items, dict):
        for item in items:
            if "=" not in item:
                raise SwitchyardError("env", f"'{item}' is not NAME=VALUE")
            key, value = item.split("=", 1)
            pairs.append((key, value))
    env: dict[str, str] = {}
    for key, value in pairs:
        if not ENV_NAME.match(key):
            raise SwitchyardError("env", f"'{key}' is not a valid environment variable name")
        if value.startswith((SECRET_PREFIX, SECRET_FILE_PREFIX)):
            ref = value.split(":", 1)[1]
            if not ref:
                raise SwitchyardError("env", f"{key}: '{value}' names no secret")
        env[key] = value
    return env


def parse_vars(items: list[str] | dict[str, str]) -> dict[str, str]:
    """``K=V`` process variables (typed and checked when the process starts)."""
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SwitchyardError("var", f"'{item}' is not NAME=VALUE")
        out[name.strip()] = value
    return out


def secret_refs(env: dict[str, str]) -> list[str]:
    return [
        v.split(":", 1)[1]
        for v in env.values()
        if v.startswith((SECRET_PREFIX, SECRET_FILE_PREFIX))
    ]


@dataclass
class ScheduleSpec:
    name: str
    command: list[str] = field(default_factory=list)
    cron: str | None = None
    tz: str = "UTC"
    every: str | None = None
    at: str | None = None
    on_demand: bool = False
    continuous: bool = False
    window: str | None = None
    lane: str = "default"
    overlap: str = "queue"
    misfire: str = "once"
    after: str | None = None
    env: list[str] | dict[str, str] = field(default_factory=list)
    cwd: str | None = None
    timeout: str | None = None
    shell: bool = False
    process: str | None = None  # start this published process instead of a command
    variables: list[str] | dict[str, str] = field(default_factory=list)  # its K=V inputs
    allow_past: bool = False  # add a once (--at) schedule whose time has passed (never fires)

    def trigger(self, now: datetime) -> Trigger:
        if self.tz is not None and not self.tz.strip():
            raise SwitchyardError("tz", "empty: give an IANA time zone like UTC or Europe/London")
        try:
            return Trigger.build(
                cron=self.cron or None,
                tz=self.tz or "UTC",
                every=self.every or None,
                at=self.at or None,
                on_demand=self.on_demand,
                continuous=self.continuous,
                window=self.window or None,
                anchor=now if self.every else None,
            )
        except TriggerError as exc:
            raise SwitchyardError(exc.field, exc.message) from exc

    def check_not_past(self, trigger: Trigger, now: datetime) -> None:
        """A new once schedule whose time has passed would never fire: refused unless
        ``allow_past``."""
        if trigger.at is None or trigger.at > now or self.allow_past:
            return
        local = trigger.at.astimezone(ZoneInfo(trigger.tz))
        raise SwitchyardError(
            "at",
            f"{local:%Y-%m-%dT%H:%M} ({trigger.tz}) is in the past: it would never fire; "
            "give --allow-past to add it anyway",
        )

    def to_row(self, now: datetime) -> tuple[Trigger, dict[str, Any]]:
        """Check every field; return the trigger and the row values (no references checked)."""
        check_name(self.name)
        trigger = self.trigger(now)
        if self.process and self.command:
            raise SwitchyardError("process", "give either --process or a command, not both")
        if self.variables and not self.process:
            raise SwitchyardError("var", "--var sets process variables: it needs --process")
        if not self.command and not self.process:
            raise SwitchyardError("command", "no command given (put it after --)")
        if self.shell and len(self.command) != 1:
            raise SwitchyardError("command", "with --shell give the command as one string")
        if any("\0" in part for part in self.command):
            raise SwitchyardError("command", "contains a NUL byte")
        if self.command and not self.command[0].strip():
            raise SwitchyardError("command", "the program to run is empty")
        check_name(self.lane, "lane")
        if self.after:
            check_name(self.after, "after")
            if self.after == self.name:
                raise SwitchyardError("after", "a schedule cannot start after itself")
        overlap, overlap_limit = parse_overlap(self.overlap)
        misfire, misfire_limit = parse_misfire(self.misfire)
        env = parse_env(self.env)
        timeout = None
        if self.timeout:
            try:
                timeout = parse_duration(self.timeout, "timeout").total_seconds()
            except TriggerError as exc:
                raise SwitchyardError(exc.field, exc.message) from exc
        return trigger, {
            "name": self.name,
            "trigger": trigger.to_fields(),
            "lane": self.lane,
            "overlap": overlap,
            "overlap_limit": overlap_limit,
            "misfire": misfire,
            "misfire_limit": misfire_limit,
            "after": self.after or None,
            "command": list(self.command),
            "shell": self.shell,
            "cwd": self.cwd or None,
            "env": env,
            "timeout_seconds": timeout,
            "process": self.process or None,
            "variables": parse_vars(self.variables),
        }


def overlap_text(row: dict[str, Any]) -> str:
    return f"parallel:{row['overlap_limit']}" if row["overlap"] == "parallel" else row["overlap"]


def misfire_text(row: dict[str, Any]) -> str:
    if row["misfire"] == "each" and row["misfire_limit"] != 100:
        return f"each:{row['misfire_limit']}"
    return str(row["misfire"])

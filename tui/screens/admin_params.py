"""The Parameters tab of the Admin screen: every server parameter with its value, default
and rule, and the form that changes one (``Engine.set_param``, which checks the value
against the rule: a refusal shows in the form and nothing changes). Running nodes take a
new value without a restart; the change is written to the event log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from switchyard.engine.ops.api import ParamView, show_value
from switchyard.tui import display
from switchyard.tui.screens.admin_form import AdminForm, Field, Values
from switchyard.tui.widgets.keyed_table import Cell, Column

if TYPE_CHECKING:
    from switchyard.engine.api import Engine

COLUMNS = (
    Column("name", "parameter", fit=True, max_width=28, min_width=9),
    Column("value", "value", fit=True, max_width=10, min_width=5),
    Column("default", "default", fit=True, max_width=10, min_width=7, drop=1),
    Column("rule", "rule", min_width=8),
    Column("updated", "updated", width=12),
)
EMPTY = "No server parameters."


def param_cells(p: ParamView, now: datetime) -> list[Cell]:
    value = show_value(p.name, p.value)
    changed = p.updated_at is not None and p.value != p.default
    return [
        p.name,
        Text(value, style="bold", end="") if changed else value,
        show_value(p.name, p.default),
        p.rule,
        display.clock_time(p.updated_at, now) if p.updated_at else "default",
    ]


def edit_param(engine: Engine, p: ParamView) -> AdminForm:
    """One field, named after the parameter (so a refusal marks it)."""
    value = show_value(p.name, p.value)
    if isinstance(p.default, bool):
        field = Field(p.name, "value", "choice", value, ("true", "false"))
    else:
        field = Field(
            p.name, "value", value=value, placeholder=f"default {show_value(p.name, p.default)}"
        )

    async def save(v: Values) -> None:
        await engine.set_param(p.name, v[p.name])

    return AdminForm(
        f"Parameter {p.name}",
        [field],
        save,
        note=f"{p.rule}\nRunning nodes take the new value at once; the change is logged.",
        done=lambda v: f"parameter {p.name} set to {v[p.name]}",
    )

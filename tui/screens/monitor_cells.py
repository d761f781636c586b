"""What the Monitor and the instance detail show, cell by cell: the column specs of their
tables, filters back as filter-bar text, what an instance waits on, running times,
variable values, and the ``NAME=VALUE`` edits of a retry."""

from __future__ import annotations

import json
import shlex
from typing import Any

from switchyard.engine.errors import StoreUnavailable
from switchyard.engine.monitor.api import MonitorRow
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.engine.vocabulary import ACTIVE_STATUSES
from switchyard.tui import display
from switchyard.tui.widgets.keyed_table import Column

ACTIVE = frozenset(ACTIVE_STATUSES)
STORE_ERRORS = (StoreUnavailable,)  # the store is out of reach (engine/kernel/boundary.py)
MARK = "✓"

# ------------------------------------------------------------------- monitor
COLUMNS = (
    Column("mark", "", width=1),
    Column("id", "id", fit=True, min_width=2, max_width=8),
    Column("process", "process", weight=3, min_width=7, max_width=28),
    Column("status", "status", fit=True, min_width=6, max_width=9),
    Column("state", "state", weight=2, min_width=5, max_width=18),
    Column("waiting", "waiting", weight=2, min_width=6, max_width=18),
    # left out when narrow, node first (all of them are in the detail)
    Column("originator", "by", fit=True, min_width=2, max_width=12, drop=1),
    Column("running", "running", width=7),
    Column("updated", "updated", fit=True, min_width=7, max_width=12, drop=2),
    Column("node", "node", weight=1, min_width=4, max_width=16, drop=3),
)


def filter_text(flt: MonitorFilter) -> str:
    """A filter in the filter bar's syntax (started_from/to have none: left out)."""
    parts = []
    if flt.processes:
        parts.append("process=" + ",".join(flt.processes))
    if flt.version is not None:
        parts.append(f"version={flt.version}")
    if flt.statuses:
        parts.append("status=" + ",".join(flt.statuses))
    for name in ("state", "lane", "node", "originator", "waiting_on"):
        value = getattr(flt, name)
        if value:
            parts.append(f"{name.replace('_', '-')}={value}")
    if flt.updated_from:
        parts.append(f"since={flt.updated_from.isoformat()}")
    if flt.updated_to:
        parts.append(f"until={flt.updated_to.isoformat()}")
    parts.extend(flt.variables)
    return "; ".join(parts)


def waiting_text(raw: str | None) -> str:
    """``workitem:12,child:7`` -> ``item #12, child #7``; ``timer`` stays ``timer``."""
    if not raw:
        return "-"
    out = []
    for part in raw.split(","):
        kind, _, ref = part.partition(":")
        label = {"workitem": "item", "child": "child"}.get(kind)
        out.append(f"{label} #{ref}" if label and ref.isdigit() else kind)
    return ", ".join(out)


def shown_fields(row: MonitorRow, marked: bool) -> tuple[Any, ...]:
    """What the Monitor's cells of ``row`` are made from, but for the running time of an
    instance not ended (it moves with the clock): two rows with equal fields show the same
    cells (the day and theme aside). Compared at every live refresh for the page's rows (a
    fresh query gives new row objects): plain fields only, not the rows themselves
    (comparing a MonitorRow compares its variables, which decodes them: the table shows
    none)."""
    i = row.instance
    return (
        i.id,
        i.process,
        row.version,
        i.status,
        row.state,
        row.waiting_on,
        row.originator,
        i.started_at,
        i.ended_at,
        row.updated_at,
        i.node_id,
        marked,
    )


RUNNING = next(n for n, c in enumerate(COLUMNS) if c.key == "running")  # its cell's index


def running_time(row: MonitorRow, now: Any) -> str:
    started = row.instance.started_at
    if started is None:
        return "-"
    return display.span((row.instance.ended_at or now) - started)


# ------------------------------------------------------------ instance detail
STEP_COLUMNS = (
    Column("action", "action", weight=3, min_width=10),
    Column("kind", "kind", fit=True, min_width=4, max_width=12),
    Column("status", "status", fit=True, min_width=6, max_width=9),
    Column("try", "try", width=3),
    Column("started", "started", fit=True, min_width=7, max_width=12),
    Column("ended", "ended", fit=True, min_width=5, max_width=12),
    Column("took", "took", width=6),
    Column("note", "note / error", weight=2, min_width=8),
)
EVENT_COLUMNS = (
    Column("at", "at", fit=True, min_width=2, max_width=12),
    Column("kind", "event", fit=True, min_width=5, max_width=14),
    Column("user", "by", fit=True, min_width=2, max_width=12),
    Column("detail", "detail", weight=1, min_width=8),
)
VAR_COLUMNS = (
    Column("name", "variable", fit=True, min_width=8, max_width=24),
    Column("value", "value", weight=1, min_width=8),
)
ITEM_COLUMNS = (
    Column("id", "item", fit=True, min_width=4, max_width=8),
    Column("title", "title", weight=2, min_width=6),
    Column("status", "status", fit=True, min_width=6, max_width=11),
    Column("with", "with", fit=True, min_width=4, max_width=20),
    Column("due", "due", fit=True, min_width=3, max_width=12),
    Column("done", "completed", fit=True, min_width=9, max_width=20),
)
CHILD_COLUMNS = (
    Column("id", "child", fit=True, min_width=5, max_width=8),
    Column("process", "process", weight=2, min_width=7),
    Column("status", "status", fit=True, min_width=6, max_width=9),
    Column("state", "state", weight=1, min_width=5),
)


def value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def short_path(path: str) -> str:
    """``states.s.actions[0].then[1]`` -> ``s[0].then[1]`` (in full below the table)."""
    return path.removeprefix("states.").replace(".actions[", "[")


def parse_assignments(text: str) -> dict[str, str]:
    """``amount=500 note="two words"`` -> {"amount": "500", "note": "two words"}."""
    found: dict[str, str] = {}
    for token in shlex.split(text):
        name, sep, value = token.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{token!r}: write NAME=VALUE")
        found[name.strip()] = value
    return found

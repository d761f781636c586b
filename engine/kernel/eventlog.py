"""The operator's event log: what happened to the installation, in short human sentences.

Entries are written in the same transaction as the change they describe (``record``), so
a change and its entry commit together. Kinds are the constants below; add a new kind to
``KINDS`` so ``switchyard events --kind`` knows it. Secret values never go in here, only
names.
"""

from __future__ import annotations

from typing import Any

from switchyard.engine.kernel.acting import ACTING_LOGIN
from switchyard.engine.kernel.tx import Tx
from switchyard.store.queries import eventlog as eventlog_q

NODE_STARTED = "node.started"
NODE_STOPPED = "node.stopped"
NODE_DRAINING = "node.draining"  # `switchyard node drain` asked a node to drain
RESTORE_STARTED = "restore.started"
RESTORE_FINISHED = "restore.finished"
RESTORED_IN_ERROR = "instance.restored_in_error"
OWNERSHIP_CHANGED = "ownership.changed"  # a dead node's instances requeued / taken over
FILTER_CANCELLED = "filter.cancelled"  # a monitor filter matched over max_monitored_flows
PARAM_CHANGED = "param.changed"
SECRET_CHANGED = "secret.changed"
REFUSED = "access.refused"  # a licence or right refusal (also in the audit log)

KINDS: tuple[str, ...] = (
    NODE_STARTED,
    NODE_STOPPED,
    NODE_DRAINING,
    RESTORE_STARTED,
    RESTORE_FINISHED,
    RESTORED_IN_ERROR,
    OWNERSHIP_CHANGED,
    FILTER_CANCELLED,
    PARAM_CHANGED,
    SECRET_CHANGED,
    REFUSED,
)

#: Published on the bus (and the events feed) after an entry commits: screens refresh.
EVENT_LOGGED = "eventlog.added"  # data: {"entry_kind": ...}


def acting_login() -> str | None:
    """The login of the guarded engine operation under way, if any."""
    return ACTING_LOGIN.get()


async def record(
    tx: Tx, kind: str, message: str, *, login: str | None = None, **detail: Any
) -> int:
    """Add an entry in ``tx``: at ``tx.now``, by ``tx.node_id``, for ``login`` (default:
    whoever the operation under way acts as). Returns the entry's id."""
    who = login if login is not None else acting_login()
    entry_id = await eventlog_q.append(tx.conn, tx.now, kind, tx.node_id, who, message, detail)
    tx.emit(EVENT_LOGGED, entry_id, entry_kind=kind)
    return entry_id


def expand_kinds(kinds: list[str] | None) -> list[str] | None:
    """Kinds as asked for: exact kinds, or families ("node" = node.started, node.stopped).
    None or empty: every kind. Raises ValueError naming an unknown one."""
    if not kinds:
        return None
    out: list[str] = []
    for asked in kinds:
        name = asked.strip()
        found = [k for k in KINDS if k == name or k.startswith(name + ".")]
        if not name or not found:
            raise ValueError(name)
        out.extend(k for k in found if k not in out)
    return out

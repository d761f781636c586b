"""The one interface every action kind implements, and the directives it answers with.

An action module defines one class with:

- ``kind``: the YAML key (``assign``, ``run``, ``http`` ...);
- ``side_effects``: True when the action touches the world outside the store (a command,
  HTTP, SQL, email). An in-flight side-effect action found after a crash is restored in
  ``error`` (unless the definition marks it ``idempotent: true``); others are re-run;
- ``async def execute(self, args, ctx) -> Directive``.

The executor never knows an action's kind: it only obeys directives. Leaf actions answer
``Done(updates)``; control flow answers with ``Enter`` (run one nested block), ``Loop``,
``Parallel``, ``GotoState``, ``EndProcess``, ``WaitUntil``, ``WaitCondition``, ``CallTask``,
``StartChild`` or ``SendWorkItem``. So adding an action kind is one new module and one line in
``registry.py``.

Normalised action (what ``definitions`` produces and the store keeps as JSON)::

    {"kind": "assign", "args": {...}, "when": "expr" | None, "retry": {"attempts": 3,
     "backoff": 2.0} | None, "idempotent": False, "timeout": 30.0 | None,
     "name": "label" | None, "path": "states.submit.actions[1]", "line": 14}
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from switchyard.engine.workitems.directive import SendWorkItem


class ActionFailed(Exception):
    """An action could not do its work. ``retryable`` lets ``retry:`` try it again."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class RanToItsEnd(asyncio.CancelledError):
    """A side-effect action whose task was stopped (a cancel, a sibling branch's failure,
    the node stopping) after it had done its work: ``directive`` is its result. Still a
    cancellation (the task stops), but the executor records the step done first, so a
    retry does not do the work a second time."""

    def __init__(self, directive: Done) -> None:
        super().__init__("stopped after it had done its work")
        self.directive = directive


async def log_done(ctx: ActionContext, lines: list[str], done: Done) -> Done:
    """Log what a side-effect action did (its work is over) and return ``done``; stopped
    while it logs, it is still done (``RanToItsEnd``): a retry must not do it again."""
    try:
        await ctx.log(lines)
    except asyncio.CancelledError:
        raise RanToItsEnd(done) from None
    return done


# ------------------------------------------------------------------ directives
@dataclass(frozen=True)
class Done:
    """A leaf action finished; ``updates`` are variables to set (committed with the end)."""

    updates: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # a short outcome for the history (never variable values)


@dataclass(frozen=True)
class Enter:
    """Run one nested block (``if``'s then/else, a ``switch`` case). ``label`` is journaled
    (``"then"``, ``"case:gold"``) so a replay takes the same branch."""

    label: str
    actions: list[dict[str, Any]]


@dataclass(frozen=True)
class Loop:
    """Run ``body`` once per item (``items`` given) or while ``condition`` holds, at most
    ``max_iterations`` times. ``var`` (for each) is bound to the item in each pass."""

    body: list[dict[str, Any]]
    items: list[Any] | None = None
    var: str | None = None
    condition: str | None = None
    max_iterations: int = 10_000
    # a parallel for-each: items side by side, at most ``max_concurrency`` at once,
    # joined all / first / N; ``grows``: items appended to the list while it runs start too
    parallel: bool = False
    max_concurrency: int | None = None
    join: str | int = "all"  # first / N: the items still under way are cancelled
    grows: bool = False


@dataclass(frozen=True)
class Branch:
    actions: list[dict[str, Any]]
    when: str | None = None  # multi-choice: a branch whose condition is false is not started


@dataclass(frozen=True)
class Parallel:
    branches: list[Branch]
    join: str | int = "all"  # all | first | each | N
    cancel_rest: bool = True  # first / N: the others are cancelled (False: they finish)
    interleaved: bool = False  # the branches' actions one at a time, never two at once


@dataclass(frozen=True)
class GotoState:
    state: str


@dataclass(frozen=True)
class EndProcess:
    outcome: str | None = None


@dataclass(frozen=True)
class WaitUntil:
    at: datetime


@dataclass(frozen=True)
class WaitCondition:
    condition: str
    every: float
    deadline: datetime | None = None


@dataclass(frozen=True)
class CallTask:
    task: str
    inputs: dict[str, Any]
    outputs: dict[str, str]  # caller variable -> task variable


@dataclass(frozen=True)
class StartChild:
    process: str
    version: int | None
    variables: dict[str, Any]
    wait: bool
    outputs: dict[str, str]  # parent variable -> child variable (when waiting)


@dataclass(frozen=True)
class MilestoneChange:
    """The instance reaches (or leaves) the milestone ``name``."""

    name: str
    reach: bool = True


Directive = (
    Done
    | Enter
    | Loop
    | Parallel
    | GotoState
    | EndProcess
    | WaitUntil
    | WaitCondition
    | CallTask
    | StartChild
    | SendWorkItem
    | MilestoneChange
)


# ------------------------------------------------------------------- context
class Evaluator(Protocol):
    def evaluate(self, expr: str, scope: Mapping[str, Any]) -> Any: ...
    def render(self, value: Any, scope: Mapping[str, Any]) -> Any: ...


@dataclass
class ActionContext:
    """What an action may use. It never sees the executor, the store or other instances."""

    instance_id: int
    step_key: str  # unique within the instance; stable across replays
    scope: Mapping[str, Any]  # variables visible here (read only: return updates instead)
    evaluator: Evaluator
    secrets: Mapping[str, str]  # for `{{ secret.KEY }}` and env; never logged
    log: Callable[[list[str]], Awaitable[None]]  # append masked lines to the instance log
    data_dir: Path
    params: Mapping[str, Any]  # server parameters (handler_response_timeout, ...)
    connections: Mapping[str, str]  # named SQL connections: name -> SQLAlchemy URL
    config: Mapping[str, Any] = field(default_factory=dict)  # the node's config.toml, e.g. [smtp]
    timeout: float | None = None  # the action's own ``timeout:`` if set
    now: Callable[[], datetime] | None = None
    # Set by the executor for commands: record the process group before it runs.
    on_process_started: Callable[[Any], Awaitable[None]] | None = None
    register_cancel: Callable[[Callable[[], Awaitable[None]]], None] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    node_id: str = ""  # the node running the step (marks its commands: runs/runner.py)

    def evaluate(self, expr: str) -> Any:
        return self.evaluator.evaluate(expr, self.scope)

    def render(self, value: Any) -> Any:
        """Render templates inside ``value`` (strings, lists, dicts) against the scope."""
        return self.evaluator.render(value, self.scope)

    def effective_timeout(self) -> float | None:
        """The action's timeout, else ``handler_response_timeout`` (0 means unlimited)."""
        if self.timeout is not None:
            return self.timeout or None
        default = float(self.params.get("handler_response_timeout", 30))
        return default or None


class LazyExtra(Mapping[str, Any]):
    """``ActionContext.extra`` whose costly entries are computed on first use: ``values``
    as given, ``later`` by calling the function once (a context is built for every step,
    and most actions never read the log path or the secured values)."""

    def __init__(self, values: dict[str, Any], later: dict[str, Callable[[], Any]]) -> None:
        self._values = values
        self._later = later

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            make = self._later.pop(key)  # KeyError for an unknown key, as a dict
            self._values[key] = make()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._values, **dict.fromkeys(self._later)})

    def __len__(self) -> int:
        return len(self._values) + len(self._later)


class Action(Protocol):
    kind: ClassVar[str]
    side_effects: ClassVar[bool]

    async def execute(self, args: dict[str, Any], ctx: ActionContext) -> Directive: ...

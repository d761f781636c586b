"""A definition compiled once into step programs: runs of plain assigns done in one go.

A process definition's blocks are mostly walked action by action (executor.py): per step
an action context, the action's class, a directive, the variables document encoded and
size-checked. For the commonest steps, consecutive plain ``assign``s (``shares_commit``:
pure, awaiting nothing), none of that can matter: they share one commit, no signal can
reach the instance between them (it never yields), and an assign's only effect is its
variables. A ``Program`` (one per published definition version, kept by the host) finds
in each block the runs of such assigns whose values the sandbox can prepare
(``Sandbox.renderer``: every template compiled once), and ``fast_steps.ProgramSteps``
runs each run in one tight loop that stores exactly what the ordinary walk stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Render = Callable[[Mapping[str, Any]], Any]


def shares_commit(action: dict[str, Any]) -> bool:
    """A plain ``assign`` (no milestone guard, no retry): pure, and it awaits nothing.

    Such a step followed in the same block by another plain assign does not await its own
    commit: its journal row and variables ride along with the next step's write (one
    commit for both). Why that keeps the contract "a step is committed before the next one
    starts" for everything that can be seen: between the first assign and the handing of
    the next step's write to the group writer the task never yields to the event loop (an
    assign evaluates its expressions in memory and awaits nothing), so no other task, node
    or side effect can act on the uncommitted step. A crash before that commit loses both
    steps from the journal and the variables together, and the instance runs them again
    from the committed variables (pure: nothing outside the store was touched). If the next
    step fails or suspends instead of writing, ``block`` writes the first step on the way
    out, so an error, a wait or a retry never finds a step applied but not journaled.
    tests/engine/process/test_shared_commit.py and tests/e2e/test_shared_commit_crash.py
    (kill -9) check it."""
    return (
        action["kind"] == "assign" and not action.get("when_milestone") and not action.get("retry")
    )


class Renderers(Protocol):
    def renderer(self, value: Any) -> Render | None: ...


@dataclass(frozen=True, slots=True)
class FastStep:
    """One plain assign of a run, prepared: its index in the block, its label for
    ``current_action``, and each variable's value as a function of the scope."""

    index: int
    action: dict[str, Any]
    describe: str
    values: tuple[tuple[str, Render], ...]
    reports: bool  # sets a ``report: true`` variable (a history row, host.report_rows)
    path: str  # the journal row's (journal.step_row)
    label: str | None


def describe(action: dict[str, Any]) -> str:
    """An action's ``current_action`` text: its name or kind, and where it is."""
    label = action.get("name") or action["kind"]
    return f"{label} @ {action.get('path', '')}"[:200]


class Program:
    """The step programs of one definition document: for a block (its list of actions,
    by identity) and an index, the run of prepared plain assigns that starts there (to
    the end of that run of consecutive ones). Blocks are prepared when first walked."""

    def __init__(self, doc: dict[str, Any], sandbox: Renderers) -> None:
        self.doc = doc
        self._sandbox = sandbox
        # id(actions) -> (actions, runs): the list is kept so its id is never reused
        self._blocks: dict[int, tuple[list[dict[str, Any]], dict[int, tuple[FastStep, ...]]]] = {}
        self.taken = 0  # runs done the fast way (the tests check that they were)

    def runs(self, actions: list[dict[str, Any]]) -> dict[int, tuple[FastStep, ...]]:
        hit = self._blocks.get(id(actions))
        if hit is None or hit[0] is not actions:
            hit = (actions, self._prepare(actions))
            self._blocks[id(actions)] = hit
        return hit[1]

    def _prepare(self, actions: list[dict[str, Any]]) -> dict[int, tuple[FastStep, ...]]:
        steps = [self._step(index, action) for index, action in enumerate(actions)]
        runs: dict[int, tuple[FastStep, ...]] = {}
        run: list[FastStep] = []
        for step in reversed(steps):  # each index: the run from there to its run's end
            if step is None:
                run = []
                continue
            run.insert(0, step)
            runs[step.index] = tuple(run)
        return runs

    def _step(self, index: int, action: dict[str, Any]) -> FastStep | None:
        if not shares_commit(action):
            return None
        values = (action.get("args") or {}).get("values")
        if not isinstance(values, dict) or not values:
            return None
        prepared = []
        for name, value in values.items():
            render = self._sandbox.renderer(value)
            if render is None:
                return None
            prepared.append((str(name), render))
        specs = self.doc.get("variables") or {}
        reports = any((specs.get(name) or {}).get("report") for name, _ in prepared)
        path, label = action.get("path") or "", action.get("name")
        return FastStep(index, action, describe(action), tuple(prepared), reports, path, label)

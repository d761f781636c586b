"""How a node's process treats Python's cyclic garbage collector while the node runs.

Two process-wide settings, both for the same reason: the collector walks container
objects, and a busy node holds many of them for a short while (500 instances of a lane
mid-step: their rows, journals, scopes, pending writes, futures).

* ``gc.freeze()`` once, when the process's first node has started (round 1 of
  bench/engine.py): what is alive then (modules, the engine, definitions) lives as long
  as the process; without it every full collection walks it all again (20-40 us per step).
* A larger youngest generation while a node runs (``YOUNG``, CPython's default 700;
  round 5): with 700, a wave of instances that are all mid-step survives several
  young passes and is promoted, so the middle and full passes walk it again and again.
  With ``YOUNG`` most of it is garbage by the time a young pass comes. Measured in
  paired runs (bench/README.md "Round 5"): 3-5 % less CPU per instance, each young pass
  a few ms longer. Only the youngest threshold is changed, and it is put back when the
  node stops if nobody changed it meanwhile (the console's ``tui/idle_gc.py`` changes
  the oldest one, and restores its own on the way out).
"""

from __future__ import annotations

import gc

YOUNG = 10_000  # allocations between young collections while a node runs (CPython: 700)

_frozen = False


def freeze_once() -> None:
    """``gc.freeze()``, once per process (see the module's docstring). Garbage made after
    this point is collected as usual; only what is unreachable at this moment and still
    in a cycle is never freed (a one-off)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class YoungGeneration:
    """The youngest generation's threshold at least ``YOUNG`` from ``enter`` to ``leave``."""

    def __init__(self) -> None:
        self._saved: int | None = None
        self._set: int | None = None

    def enter(self) -> None:
        first, second, third = gc.get_threshold()
        if self._saved is None and 0 < first < YOUNG:  # 0: collection disabled, leave it
            self._saved, self._set = first, YOUNG
            gc.set_threshold(YOUNG, second, third)

    def leave(self) -> None:
        first, second, third = gc.get_threshold()
        if self._saved is not None and first == self._set:
            gc.set_threshold(self._saved, second, third)
        self._saved = self._set = None

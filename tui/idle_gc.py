"""Full garbage collections while the user is idle, not in the middle of a keypress.

Python's automatic full (generation 2) collection walks every tracked object. A console
showing a page of 1,000 live rows holds enough of them (cells, rendered lines, engine
rows) that one takes 80-160 ms, and they come every second or so while the table is
being repainted: most of bench/monitor_screen.py's slow keypresses were these. While the
app runs, ``IdleCollector`` makes automatic full collections rare (gen-2 threshold
``RARE``) and collects fully itself every ``EVERY`` seconds once no key has been pressed
for ``IDLE`` seconds. The thresholds are restored when the app stops.

It changes the process-wide thresholds, so the embedded engine's objects are collected on
the same terms while the console runs (its garbage still goes by reference counting and
young-generation passes, only full passes wait). Kept because measured
(bench/monitor_screen.py --quick, with and without ``--no-idle-gc``, 2026-12-06, a
loaded 2-core machine): keypress-to-repaint p99 77-106 ms with it vs 239-340 ms without,
longest loop stall 139-158 ms vs 431-455 ms; beside two CPU burners (``--hog``) p99 203 ms
vs 1,214 ms. ``gc.freeze()`` at start on top of it showed no difference and is not used.
"""

from __future__ import annotations

import gc
import time
from typing import Any

RARE = 1000  # gen-1 collections between automatic full ones (CPython's default: 10)
EVERY = 5.0  # seconds between our own full collections ...
IDLE = 1.0  # ... each once no key came for this long


class IdleCollector:
    def __init__(self) -> None:
        self._saved: tuple[int, ...] | None = None
        self._key_at = 0.0
        self._collected_at = time.monotonic()

    def start(self, app: Any) -> None:
        self._saved = gc.get_threshold()
        first, second = self._saved[0], self._saved[1]
        gc.set_threshold(first, second, max(RARE, self._saved[2]))
        app.set_interval(IDLE / 2, self._maybe_collect, name="idle-gc")

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def key_pressed(self) -> None:
        self._key_at = time.monotonic()

    def _maybe_collect(self) -> None:
        now = time.monotonic()
        if now - self._key_at >= IDLE and now - self._collected_at >= EVERY:
            gc.collect()
            self._collected_at = time.monotonic()

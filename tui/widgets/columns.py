"""Column specs and how they share a table's width (KeyedTable and VirtualTable alike).

Flexible columns share the width left by fixed ones; cells are cut to fit with an
ellipsis, so a table reads well at 80 columns and uses more room when there is some.
Priorities: a column with ``drop`` > 0 is left out (highest ``drop`` first) while another
column would cut its content and leaving it out gives that room; widening the terminal
brings it back, and each screen shows the row in full in its detail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None  # fixed width
    fit: bool = False  # as wide as its widest cell (within min/max)
    weight: int = 1  # else: a share of the width left (by weight)
    max_width: int | None = None
    min_width: int = 4
    drop: int = 0  # 0: always shown; else left out when narrow, the highest first


class Fitter:
    """The shown columns and their widths for a table ``total`` cells wide, given each
    column's widest cell (``widest(index)``: index in ``spec``; asked once per column)."""

    def __init__(
        self, spec: Sequence[Column], widest: Callable[[int], int], total: int, padding: int
    ) -> None:
        self.spec = list(spec)
        self._index = {c.key: n for n, c in enumerate(self.spec)}
        self._widest_of = widest
        self._widest: dict[int, int] = {}
        self.total = total
        self.padding = padding

    def widest(self, c: Column, *, label: bool = True) -> int:
        index = self._index[c.key]
        widest = self._widest.get(index)
        if widest is None:
            widest = self._widest[index] = self._widest_of(index)
        return max(len(c.label) if label else 0, widest)

    def fit(self) -> tuple[list[Column], dict[str, int]]:
        """Widths of the shown columns; leaves out droppable ones while content is cut."""
        shown = list(self.spec)
        while True:
            widths = self._fit_of(shown)
            droppable = [c for c in shown if c.drop]
            cut = [  # content cut (a header may be, it is the same on every row)
                c
                for c in shown
                if c.width is None and not c.drop and widths[c.key] < self._wanted(c, label=False)
            ]
            if not cut or not droppable:
                break
            shown.remove(max(droppable, key=lambda c: c.drop))
        return shown, widths

    def _wanted(self, c: Column, *, label: bool = True) -> int:
        widest = self.widest(c, label=label)
        return min(widest, c.max_width or widest)

    def _fit_of(self, shown: list[Column]) -> dict[str, int]:
        free = self.total - 2 * self.padding * len(shown) - 1  # 1: the scrollbar
        widths: dict[str, int] = {}
        for c in shown:
            if c.width is not None:
                widths[c.key] = c.width
            elif c.fit:
                widths[c.key] = max(c.min_width, self._wanted(c))
        free -= sum(widths.values())
        flex = [c for c in shown if c.key not in widths]
        growable = [c for c in flex if not c.max_width]
        # each flexible column at most as wide as its content (or its max_width): what one
        # cannot use goes to the others; what is left at the end, to the last unbounded one
        while flex:
            weights = sum(c.weight for c in flex) or 1
            capped = [c for c in flex if free * c.weight // weights >= self._cap(c)]
            if not capped:
                for c in flex:
                    widths[c.key] = max(c.min_width, free * c.weight // weights)
                free = 0
                break
            for c in capped:
                widths[c.key] = self._cap(c)
                free -= widths[c.key]
                flex.remove(c)
        if free > 0 and growable:
            widths[growable[-1].key] += free
        return widths

    def _cap(self, c: Column) -> int:
        return max(c.min_width, self._wanted(c))


def fit_columns(
    spec: Sequence[Column], widest: Callable[[int], int], total: int, padding: int
) -> tuple[list[Column], dict[str, int]]:
    return Fitter(spec, widest, total, padding).fit()


def widen(widest: dict[int, int], widths: list[int], old: list[int] | None) -> None:
    """Keep each column's widest cell (kept in ``widest`` by column index) exact when a
    row's widths change from ``old`` to ``widths``: a wider cell raises it; a cell that was
    the widest and narrowed (or went) drops the column, to be measured again when asked.

    So a column shrinks back when its widest cell goes (the next page, a row gone or
    narrowed): as KeyedTable (it measures again at every change) and as a table given the
    same rows afresh. Textual's DataTable keeps the width of a removed row (it measures
    again only when a cell narrows); not copied: after a page with one long value, every
    later page would keep the gap (room that a narrow screen's columns could use)."""
    for index, width in enumerate(widths):
        known = widest.get(index)
        if known is None:
            continue
        if width > known:
            widest[index] = width
        elif old is not None and index < len(old) and old[index] == known and width < known:
            del widest[index]

"""The Monitor's commands over a filter's results: save the filter, pick a saved one,
retry or cancel the marked instances (or every instance the filter matches). Mixed into
``MonitorScreen`` (monitor.py), which holds the filter, the marks and the loading."""

from __future__ import annotations

from typing import Any

from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.tui.display import plural
from switchyard.tui.screens.base import EngineScreen
from switchyard.tui.screens.bulk import confirm_and_run
from switchyard.tui.screens.prompt import PromptScreen
from switchyard.tui.screens.saved_filters import SavedFiltersScreen
from textual import work


class MonitorCommands(EngineScreen):
    # provided by MonitorScreen
    flt: MonitorFilter | None
    marked: set[int]

    async def _fetch(self, operation: Any, *, failed: str) -> Any:  # pragma: no cover
        raise NotImplementedError

    def apply(self, flt: MonitorFilter) -> None:  # pragma: no cover - MonitorScreen's
        raise NotImplementedError

    # ------------------------------------------------------- saved filters
    @work(group="prompt")
    async def action_save_filter(self) -> None:
        flt = self.flt
        if flt is None:
            return
        prompt = PromptScreen(
            "Save filter", f"Save '{flt.describe()}' as:", placeholder="a name to recall it by"
        )
        name = await self.app.push_screen_wait(prompt)
        if name and await self.attempt(self.engine.save_filter(name, flt), failed="not saved"):
            self.notify(f"filter saved as '{name}' (f: saved filters)")

    @work(group="prompt")
    async def action_saved_filters(self) -> None:
        saved = await self._fetch(self.engine.saved_filters(), failed="saved filters")
        if saved is None:
            return
        if not saved:
            self.notify("no saved filters yet: set one, then ctrl+s", timeout=4)
            return
        chosen = await self.app.push_screen_wait(SavedFiltersScreen(saved))
        if chosen is not None:
            self.apply(chosen)

    # ----------------------------------------------------------------- bulk
    @work(group="bulk")
    async def action_bulk(self, verb: str) -> None:
        flt = self.flt
        if flt is None:
            return
        if self.marked:
            ids = sorted(self.marked)
            what = plural(len(ids), "marked instance")
        else:
            found = await self._fetch(self.engine.monitor_ids(flt), failed=verb)
            if found is None:
                return
            ids = list(found)
            what = f"{plural(len(ids), 'instance')} matching {flt.describe()}"
        op = self.engine.retry if verb == "retry" else self.engine.cancel
        if await confirm_and_run(self.app, verb, ids, what, op) is not None:
            self.marked.clear()
            self.reload()

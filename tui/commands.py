"""The command palette (ctrl+p): the screens, common actions, and per-schedule actions."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from switchyard.tui.app import SwitchyardApp

Action = Callable[[], object | Awaitable[object]]


class SwitchyardCommands(Provider):
    async def startup(self) -> None:
        self._schedules: list[str] = []
        with contextlib.suppress(SwitchyardError, StoreUnavailable):  # the palette works without
            self._schedules = [v.name for v in await self.sy_app.engine.schedules()]

    @property
    def sy_app(self) -> SwitchyardApp:
        return cast("SwitchyardApp", self.app)

    def _common(self) -> list[tuple[str, str, Action]]:
        app = self.sy_app
        return [
            ("Schedules", "screen 1: schedules, next fires", partial(app.switch_mode, "schedules")),
            ("Queue", "screen 2: running and queued runs, live logs", partial(app.switch_mode, "queue")),
            ("Monitor", "screen 3: process instances by filter, detail, bulk retry/cancel", partial(app.switch_mode, "monitor")),
            ("Work Items", "screen 4: work items waiting for you and your groups", partial(app.switch_mode, "workitems")),
            ("Admin", "screen 5: users, groups, rights, security specs, parameters", partial(app.switch_mode, "admin")),
            ("Events", "screen 6: the event log (nodes, restores, parameters, refusals)", partial(app.switch_mode, "events")),
            ("Nodes", "screen 7: nodes, their state and work; drain, transfer", partial(app.switch_mode, "nodes")),
            ("Timers", "ctrl+t: waits, due dates, schedule fires; force them now", app.action_timers),
            ("Add schedule", "open the schedule form", partial(self._on_schedules, "add", None)),
            ("Help: keys", "every key of the current screen", app.action_help),
            ("Quit", "quit the console", app.action_quit),
        ]  # fmt: skip

    def _per_schedule(self) -> list[tuple[str, str, Action]]:
        found: list[tuple[str, str, Action]] = []
        for name in self._schedules:
            found += [
                (f"Run {name} now", "queue a run on its lane", partial(self._on_schedules, "run", name)),
                (f"Edit {name}", "open the schedule form", partial(self._on_schedules, "edit", name)),
                (f"Pause/resume {name}", "toggle its fires", partial(self._on_schedules, "pause", name)),
            ]  # fmt: skip
        return found

    async def _on_schedules(self, what: str, name: str | None) -> None:
        screen = await self.sy_app.schedules_screen()
        if what == "add":
            screen.open_form(None)
        elif name is not None and what == "edit":
            screen.open_form(name)
        elif name is not None and what == "run":
            screen.run_now(name)
        elif name is not None:
            screen.toggle_pause(name)

    async def discover(self) -> Hits:
        for title, help_text, action in self._common():
            yield DiscoveryHit(title, action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in self._common() + self._per_schedule():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), action, help=help_text)

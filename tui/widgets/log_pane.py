"""A log pane that follows one instance's output live.

Lines come from ``engine.follow_log(id)`` (batches, ending when the instance ends) in an
exclusive worker, so choosing another instance stops the previous stream. The pane keeps
the last ``MAX_LINES`` lines. It tails the output while it is scrolled to the end; scrolling
up (or ``f``) pauses the tail and counts new lines, and End (or ``f`` again) resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from switchyard.engine.views import InstanceView
from switchyard.tui.display import plural
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Log, Static

if TYPE_CHECKING:
    from switchyard.engine.api import Engine

MAX_LINES = 5000


class TailLog(Log):
    """The log text; vim keys scroll it. Scrolling up pauses the tail at once (before the
    scroll lands), so lines arriving meanwhile do not yank the view back to the end."""

    HELP_GROUP = "log"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Scroll down", show=False, id="log_down"),
        Binding("k", "scroll_up", "Scroll up", show=False, id="log_up"),
        Binding("g", "scroll_home", "Top", show=False, id="log_top"),
        Binding("G", "scroll_end", "End (resume)", show=False, id="log_end"),
    ]

    def __init__(
        self, on_scroll_up: Callable[[], None], on_end: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._pause_tail = on_scroll_up
        self._resume_tail = on_end

    def copy_text(self) -> str | None:
        """``y`` copies the last line in view (the newest while following)."""
        if not self.line_count:
            return None
        last = min(int(self.scroll_y) + self.scrollable_content_region.height, self.line_count)
        return self.lines[max(last - 1, 0)] or None

    def action_scroll_end(self) -> None:  # End, G: resume the tail (no animation to race)
        self._resume_tail()

    def action_scroll_up(self) -> None:
        self._pause_tail()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._pause_tail()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._pause_tail()
        super().action_scroll_home()

    def on_mouse_scroll_up(self) -> None:  # the scrolling itself is Widget's handler
        self._pause_tail()


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
    }
    LogPane > #log-title {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text;
    }
    LogPane > TailLog {
        height: 1fr;
        border: none;
        padding: 0 1;
        overflow-x: auto;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    LogPane > TailLog:focus {
        background-tint: $foreground 4%;
    }
    LogPane > #log-status {
        height: auto;
        max-height: 3;  /* an error ("cannot start: ... No such file ...") wraps */
        padding: 0 1;
        color: $text-muted;
    }
    LogPane > #log-status.-paused {
        color: $text-warning;
        text-style: bold;
    }
    """

    following: reactive[bool] = reactive(True)
    instance_id: reactive[int | None] = reactive(None)

    def __init__(self, engine: Engine, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._engine = engine
        self._new_lines = 0
        self._total = 0
        self._ended: str | None = None
        self._label = ""
        self._state = ""
        self.pinned = False  # the screen keeps this instance whatever the cursor does

    def compose(self) -> ComposeResult:
        yield Static("log", id="log-title")
        yield TailLog(self._pause, self._resume, max_lines=MAX_LINES, auto_scroll=False, id="log")
        yield Static("no instance selected", id="log-status")

    @property
    def log_widget(self) -> TailLog:
        return self.query_one(TailLog)

    def on_mount(self) -> None:
        self.watch(self.log_widget, "scroll_y", self._scrolled, init=False)

    # ------------------------------------------------------------- following
    def show(self, instance: InstanceView | None) -> None:
        """Follow ``instance`` (no-op if it is already shown); None clears the pane."""
        if instance is None:
            if self.instance_id is not None:
                self.workers.cancel_group(self, "log")
                self.instance_id = None
                self.pinned = False
                self.log_widget.clear()
                self._set_title("log")
                self._status("no instance selected")
            return
        if instance.id == self.instance_id:
            return
        self.instance_id = instance.id
        self._label = f"#{instance.id} {instance.schedule or instance.process or ''}".strip()
        self._show_title()
        self.log_widget.clear()
        self._total = 0
        self._new_lines = 0
        self._ended = None
        self._state = instance.status
        self.following = True
        self._render_status()
        self._stream(instance.id)

    def set_pinned(self, pinned: bool) -> None:
        self.pinned = pinned
        self._show_title()

    def _show_title(self) -> None:
        if self.instance_id is None:
            self._set_title("log")
        elif self.pinned:
            self._set_title(f"log {self._label} · pinned (l: follow the cursor)")
        else:
            self._set_title(f"log {self._label}")

    def note_status(self, status: str) -> None:
        """The followed instance's status as the queue last saw it."""
        if status != self._state:
            self._state = status
            self._render_status()

    @work(exclusive=True, group="log")
    async def _stream(self, instance_id: int) -> None:
        try:
            async for lines in self._engine.follow_log(instance_id):
                self.write_lines(lines)
            view = await self._engine.instance(instance_id)
        except (SwitchyardError, StoreUnavailable) as exc:
            self._ended = f"log unavailable: {exc}"
        else:
            code = "" if view.exit_code is None else f" (exit {view.exit_code})"
            reason = f": {view.reason}" if view.reason else ""
            self._ended = f"ended {view.status}{code}{reason}"
        self._render_status()

    def write_lines(self, lines: list[str]) -> None:
        lines = lines[-MAX_LINES:]
        self._total += len(lines)
        log = self.log_widget
        if self.following:
            log.write_lines(lines, scroll_end=False)
            log.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            log.write_lines(lines, scroll_end=False)
            self._new_lines += len(lines)
        self._render_status()

    def _pause(self) -> None:
        if self.instance_id is not None and self.log_widget.max_scroll_y > 0:
            self.following = False

    def _resume(self) -> None:
        if self.following:
            self.log_widget.scroll_end(animate=False, immediate=True, x_axis=False)
        self.following = True

    def toggle_follow(self) -> None:
        self.following = not self.following

    def watch_following(self, following: bool) -> None:
        if following:
            self._new_lines = 0
            self.log_widget.scroll_end(animate=False, immediate=True, x_axis=False)
        self._render_status()

    def _scrolled(self, _old: float, _new: float) -> None:
        at_end = self.log_widget.is_vertical_scroll_end
        if at_end != self.following:
            self.following = at_end

    # --------------------------------------------------------------- status
    def _set_title(self, text: str) -> None:
        self.query_one("#log-title", Static).update(Text(text))

    def _status(self, text: str, *, paused: bool = False) -> None:
        status = self.query_one("#log-status", Static)
        status.set_class(paused, "-paused")
        status.update(Text(text))

    def _render_status(self) -> None:
        if self.instance_id is None:
            return
        if not self.following:
            self._status(
                f"paused — {plural(self._new_lines, 'new line')}, End to resume", paused=True
            )
            return
        if self._ended:
            self._status(f"{self._ended} · {plural(self._total, 'line')}")
        elif self._state == "queued" and not self._total:
            self._status("queued: its output appears here when it starts")
        else:
            self._status(f"{self._state or 'running'} · following · {plural(self._total, 'line')}")

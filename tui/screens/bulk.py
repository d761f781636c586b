"""A bulk operation in a modal: one engine call per instance with a progress bar, then a
summary ("retry: 35 done, 2 failed") and each failure with the engine's message.

Esc while it runs stops after the instance under way (the rest are reported as not
tried); once it has finished, Esc or Enter closes it. Dismisses with the summary.
``confirm_and_run`` asks first ("Retry 37 instances matching …?"), then runs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from switchyard.tui.screens.answer_once import Dialog
from switchyard.tui.screens.confirm import ConfirmScreen
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, ProgressBar, Static

Operation = Callable[[int], Awaitable[Any]]
CONSEQUENCES = {
    "retry": "Each failed step runs again.",
    "cancel": "Running commands are stopped; the instances end as cancelled.",
}


async def confirm_and_run(
    app: App[Any], verb: str, ids: list[int], what: str, operation: Operation
) -> BulkResult | None:
    """Ask "Verb <what>?", then run ``operation`` on each id in a BulkScreen; None when
    there was nothing to do or the answer was no. Call it from a worker."""
    if not ids:
        app.notify("nothing matches the filter", severity="warning")
        return None
    confirm = ConfirmScreen(
        f"Bulk {verb}",
        f"{verb.capitalize()} {what}?\n{CONSEQUENCES.get(verb, '')}".rstrip(),
        yes=verb.capitalize(),
    )
    if not await app.push_screen_wait(confirm):
        return None
    return await app.push_screen_wait(BulkScreen(verb, ids, operation))


@dataclass
class BulkResult:
    verb: str
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    not_tried: int = 0

    @property
    def summary(self) -> str:
        text = f"{self.verb}: {len(self.done)} done, {len(self.failed)} failed"
        return text + (f", {self.not_tried} not tried (stopped)" if self.not_tried else "")


class BulkScreen(Dialog[BulkResult]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Stop / close", id="bulk_close"),
    ]

    def __init__(self, verb: str, ids: list[int], operation: Operation) -> None:
        super().__init__()
        self.verb = verb
        self.ids = list(ids)
        self.operation = operation
        self.result = BulkResult(verb)
        self.finished = False
        self._stop = False

    def compose(self) -> ComposeResult:
        with Vertical(id="bulk-dialog") as dialog:
            dialog.border_title = f"{self.verb.capitalize()} {len(self.ids)}"
            yield Static(id="bulk-current")
            yield ProgressBar(total=len(self.ids), show_eta=False, id="bulk-progress")
            yield Static(id="bulk-summary")
            with VerticalScroll(id="bulk-errors"):
                yield Static(id="bulk-error-lines")
            yield Button("Close", id="bulk-ok", disabled=True)

    @property
    def progress(self) -> ProgressBar:
        return self.query_one("#bulk-progress", ProgressBar)

    def on_mount(self) -> None:
        self.query_one("#bulk-errors").display = False
        self._run()

    @work(exclusive=True, group="bulk-run")
    async def _run(self) -> None:
        current = self.query_one("#bulk-current", Static)
        for index, instance_id in enumerate(self.ids):
            if self._stop:
                self.result.not_tried = len(self.ids) - index
                break
            current.update(f"{self.verb} #{instance_id} ({index + 1} of {len(self.ids)})")
            try:
                await self.operation(instance_id)
            except SwitchyardError as exc:
                self.result.failed.append((instance_id, exc.message))
            except StoreUnavailable as exc:
                self.result.failed.append((instance_id, str(exc) or type(exc).__name__))
            else:
                self.result.done.append(instance_id)
            self.progress.advance(1)
        self._finish()

    def _finish(self) -> None:
        self.finished = True
        self.query_one("#bulk-current", Static).update(
            "stopped" if self.result.not_tried else "finished"
        )
        colours = getattr(self.app, "colours", {})
        style = f"bold {colours.get('error' if self.result.failed else 'success', '')}".strip()
        self.query_one("#bulk-summary", Static).update(Text(self.result.summary, style=style))
        if self.result.failed:
            lines = "\n".join(f"#{i}: {message}" for i, message in self.result.failed)
            self.query_one("#bulk-error-lines", Static).update(Text(lines))
            self.query_one("#bulk-errors").display = True
        button = self.query_one("#bulk-ok", Button)
        button.disabled = False
        button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def action_close(self) -> None:
        if self.finished:
            self.dismiss(self.result)
        elif not self._stop:
            self._stop = True
            self.query_one("#bulk-current", Static).update("stopping after this one…")

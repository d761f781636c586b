"""``switchyard migrate``'s progress: a bar per table on stderr (rich), in a module of its
own so that other commands do not import rich (~30 ms of every call, issue 14)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- rows/s" if speed is None else f"{speed:,.0f} rows/s")


class Bars:
    """A progress bar per table on stderr (the engine's transfer observer); drawn from
    the first table on, so a refusal prints its one line and nothing else."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def _bars(self) -> Progress:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                RowsPerSecond(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                disable=not self.enabled,
            )
            self.progress.start()
        return self.progress

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def table_started(self, table: str, total: int) -> None:
        self.tasks[table] = self._bars().add_task(table, total=max(total, 0))

    def rows_done(self, table: str, count: int) -> None:
        self._bars().advance(self.tasks[table], count)

    def table_done(self, table: str, copied: int, quarantined: int, skipped: bool) -> None:
        bars = self._bars()
        if skipped:
            bars.console.print(f"{table:<20} done by an earlier run, kept")
            return
        task = self.tasks[table]
        bars.update(task, completed=bars.tasks[task].total)
        if quarantined:
            bars.console.print(f"{table:<20} {quarantined} row(s) quarantined")

"""The add/edit schedule form: checked as you type, with the next 10 fires beside it.

Every keystroke builds a ScheduleSpec and asks the engine for a preview (pure: no store),
so an error appears under the field it names and the fires (local time, UTC, DST notes)
update at once. Fields irrelevant to the trigger kind are hidden. Ctrl+S saves through
the engine; a refusal is shown on its field and the form stays open with its values.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from switchyard.engine.schedules.spec import ScheduleSpec, check_name
from switchyard.engine.views import FirePreview
from switchyard.tui.screens.answer_once import Dialog
from switchyard.tui.widgets.top_bar import TopBar
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, Select, Static

if TYPE_CHECKING:
    from switchyard.engine.api import Engine

KINDS = [
    ("cron", "cron"),
    ("every", "every"),
    ("at (once)", "at"),
    ("on demand", "on_demand"),
    ("continuous", "continuous"),
]
SHOWN_FOR_KIND = {
    "cron": {"cron", "tz"},
    "every": {"every"},
    "at": {"at", "tz"},
    "on_demand": set(),
    "continuous": {"window", "tz"},
}
TRIGGER_FIELDS = {"cron", "tz", "every", "at", "window"}
REQUIRED_FOR_KIND = {"cron": "cron", "every": "every", "at": "at"}
# field -> (label, placeholder)
TEXT_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("name", "nightly-backup"),
    "cron": ("cron", "min hour day month weekday"),
    "tz": ("tz", "UTC, Europe/London, ..."),
    "every": ("every", "30s, 5m, 1h30m"),
    "at": ("at", "2026-12-01T09:00"),
    "window": ("window", "08:00-18:00 (optional)"),
    "overlap": ("overlap", "queue | skip | parallel:N"),
    "misfire": ("misfire", "once | each[:N] | skip"),
    "command": ("command", "./run.sh --full 'an arg'"),
    "env": ("env", "K=V K2=secret:key (optional)"),
    "cwd": ("cwd", "working directory (optional)"),
    "timeout": ("timeout", "5m (optional)"),
}
NAME_EXAMPLES = ("nightly-backup", "my-schedule")


def name_placeholder(existing: list[str]) -> str:
    """An example name that is not an existing schedule's (it would only be refused)."""
    taken = set(existing)
    for name in NAME_EXAMPLES:
        if name not in taken:
            return name
    n = 2
    while f"my-schedule-{n}" in taken:
        n += 1
    return f"my-schedule-{n}"


def blocking(errors: dict[str, str]) -> str:
    """The form's message when saving is refused: every field to fix, the first with its
    words (it also has the focus)."""
    order = [f for f in FIELD_ORDER if f in errors] + [f for f in errors if f not in FIELD_ORDER]
    first, *rest = order
    return "not saved: fix " + ", ".join([f"{first} ({errors[first]})", *rest])


FIELD_ORDER = [
    "name", "kind", "cron", "tz", "every", "at", "window", "lane",
    "overlap", "misfire", "after", "command", "env", "cwd", "timeout",
]  # fmt: skip


class ScheduleForm(Dialog[str | None]):
    """Dismisses with the saved schedule's name, or None when cancelled."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    AUTO_FOCUS = "#f-name"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="form_save", priority=True),
        Binding("escape", "cancel", "Cancel", id="form_cancel"),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        lanes: list[str],
        schedules: list[str],
        original: str | None = None,
        spec: ScheduleSpec | None = None,
    ) -> None:
        super().__init__()
        self._engine = engine
        self._original = original
        self._spec = spec or ScheduleSpec(name="")
        self._lanes = lanes if self._spec.lane in lanes else [*lanes, self._spec.lane]
        self._schedules = [s for s in schedules if s != original]
        self._name_placeholder = name_placeholder(schedules)
        self._save_refused = False  # ctrl+s was refused: the message line says why until fixed
        self._touched: set[str] = set(FIELD_ORDER) if original else set()
        self._saving = False
        self._shown: dict[str, Text] = {}

    # ----------------------------------------------------------------- layout
    def _initial(self) -> dict[str, str]:
        s = self._spec
        shell = bool(s.shell and len(s.command) == 1)
        env = s.env if isinstance(s.env, list) else [f"{k}={v}" for k, v in s.env.items()]
        return {
            "name": s.name,
            "cron": s.cron or "",
            "tz": s.tz or "UTC",
            "every": s.every or "",
            "at": s.at or "",
            "window": s.window or "",
            "overlap": s.overlap,
            "misfire": s.misfire,
            "command": s.command[0] if shell else shlex.join(s.command),
            "env": shlex.join(env),
            "cwd": s.cwd or "",
            "timeout": s.timeout or "",
        }

    def _kind(self) -> str:
        s = self._spec
        if s.every:
            return "every"
        if s.at:
            return "at"
        if s.on_demand:
            return "on_demand"
        if s.continuous:
            return "continuous"
        return "cron"

    def _field(self, name: str, label: str, widget: Widget) -> Vertical:
        return Vertical(
            Horizontal(Label(label, classes="field-label"), widget, classes="field-row"),
            Static("", id=f"e-{name}", classes="field-error"),
            id=f"field-{name}",
            classes="field",
        )

    def _fields(self) -> Iterator[Widget]:
        values = self._initial()
        for name in FIELD_ORDER:
            if name == "kind":
                widget: Widget = Select(
                    KINDS, value=self._kind(), allow_blank=False, compact=True, id="f-kind"
                )
                yield self._field(name, "trigger", widget)
            elif name == "lane":
                options = [(lane, lane) for lane in self._lanes]
                widget = Select(
                    options, value=self._spec.lane, allow_blank=False, compact=True, id="f-lane"
                )
                yield self._field(name, "lane", widget)
            elif name == "after":
                options = [(s, s) for s in self._schedules]
                after = self._spec.after if self._spec.after in self._schedules else Select.NULL
                widget = Select(
                    options, value=after, allow_blank=True, prompt="(none)", compact=True,
                    id="f-after",
                )  # fmt: skip
                yield self._field(name, "after", widget)
            else:
                label, placeholder = TEXT_FIELDS[name]
                if name == "name":
                    placeholder = self._name_placeholder
                widget = Input(values[name], placeholder=placeholder, compact=True, id=f"f-{name}")
                yield self._field(name, label, widget)

    def compose(self) -> ComposeResult:
        title = f"Edit schedule {self._original}" if self._original else "Add schedule"
        yield TopBar()  # the mode stays visible over the whole screen
        with Vertical(id="form-dialog") as dialog:
            dialog.border_title = title
            with Horizontal(id="form-body"):
                with VerticalScroll(id="form-fields", can_focus=False):
                    yield from self._fields()
                    if self._spec.shell:
                        yield Static("runs with /bin/sh -c", id="shell-note")
                with Vertical(id="form-preview"):
                    yield Static("Next 10 fires", id="preview-title")
                    with VerticalScroll(id="preview-scroll", can_focus=False):
                        yield Static("", id="preview")
            yield Static("", id="form-message")
            with Horizontal(id="form-buttons"):
                yield Button("Save ^s", variant="primary", compact=True, id="save")
                yield Button("Cancel esc", compact=True, id="cancel")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show_kind_fields()
        self._check()

    # ------------------------------------------------------------- checking
    def _text(self, name: str) -> str:
        return self.query_one(f"#f-{name}", Input).value

    def _select(self, name: str) -> str | None:
        value: Any = self.query_one(f"#f-{name}", Select).value
        return value if isinstance(value, str) else None

    def _show_kind_fields(self) -> None:
        shown = SHOWN_FOR_KIND[self._select("kind") or "cron"]
        for name in TRIGGER_FIELDS:
            self.query_one(f"#field-{name}").display = name in shown

    def _build(self) -> tuple[ScheduleSpec, dict[str, str]]:
        """The spec the fields describe, and errors found while reading them."""
        errors: dict[str, str] = {}
        kind = self._select("kind") or "cron"
        shown = SHOWN_FOR_KIND[kind]
        try:
            command = (
                [self._text("command")] if self._spec.shell else shlex.split(self._text("command"))
            )
        except ValueError as exc:
            errors["command"] = f"cannot split into words: {exc}"
            command = []
        try:
            env = shlex.split(self._text("env"))
        except ValueError as exc:
            errors["env"] = f"cannot split into K=V items: {exc}"
            env = []

        def value(name: str) -> str | None:
            return (self._text(name).strip() or None) if name in shown else None

        spec = ScheduleSpec(
            name=self._text("name").strip(),
            command=command,
            cron=value("cron"),
            tz=value("tz") or "UTC",
            every=value("every"),
            at=value("at"),
            on_demand=kind == "on_demand",
            continuous=kind == "continuous",
            window=value("window"),
            lane=self._select("lane") or "default",
            overlap=self._text("overlap").strip() or "queue",
            misfire=self._text("misfire").strip() or "once",
            after=self._select("after"),
            env=env,
            cwd=self._text("cwd").strip() or None,
            timeout=self._text("timeout").strip() or None,
            shell=self._spec.shell,
        )
        required = REQUIRED_FOR_KIND.get(kind)
        if required and not value(required):
            errors[required] = f"required for a {kind} trigger"
        if not spec.name:
            errors["name"] = "required"
        else:
            try:
                check_name(spec.name)
            except SwitchyardError as exc:
                errors["name"] = exc.message
        if "command" not in errors and not spec.process and not "".join(command).strip():
            errors["command"] = "required: the command to run"
        return spec, errors

    def _check(self, *, everything: bool = False) -> ScheduleSpec | None:
        """Check the fields; show errors and the preview. The spec if it is all good."""
        spec, errors = self._build()
        fires: list[FirePreview] | None = None
        if not any(f in errors for f in TRIGGER_FIELDS):
            try:
                fires = self._engine.preview_spec(spec, 10)
            except SwitchyardError as exc:
                errors.setdefault(exc.field, exc.message)
        if not errors:
            try:
                self._engine.check_spec(spec)
            except SwitchyardError as exc:
                message = exc.message
                if exc.field == "command" and not spec.command:
                    message = "required: the command to run"
                errors.setdefault(exc.field, message)
        self._show_errors(errors, everything=everything)
        self._show_preview(spec, fires)
        return None if errors else spec

    def _show_errors(self, errors: dict[str, str], *, everything: bool) -> None:
        if self._save_refused:
            everything = True  # after a refused save every problem shows, until fixed
            if errors:
                self._message(blocking(errors))
            else:
                self._save_refused = False
        general: list[str] = []
        for name in FIELD_ORDER:
            message = errors.get(name)
            if message and not (everything or name in self._touched):
                message = None
            self.query_one(f"#field-{name}").set_class(message is not None, "-error")
            self._update(f"#e-{name}", Text(f"✗ {message}" if message else ""))
        for name, message in errors.items():
            if name not in FIELD_ORDER and (everything or self._touched):
                general.append(f"{name}: {message}")
        if not self._save_refused:
            self._message(" ".join(general))

    def _message(self, text: str) -> None:
        self._update("#form-message", Text(text))

    def _update(self, selector: str, text: Text) -> None:
        """Update a Static only when its text changes (each update costs a layout)."""
        if self._shown.get(selector) != text:
            self._shown[selector] = text
            self.query_one(selector, Static).update(text)

    def _show_preview(self, spec: ScheduleSpec, fires: list[FirePreview] | None) -> None:
        kind = self._select("kind") or "cron"
        title = "Next 10 fires" + (f" ({spec.tz})" if kind in ("cron", "at") else "")
        self._update("#preview-title", Text(title))
        if fires is None:
            self._update("#preview", Text("complete the trigger to see its fires", style="dim"))
            return
        if kind == "on_demand":
            self._update("#preview", Text("on demand: runs only when started (r, or a chain)"))
            return
        if kind == "continuous":
            window = f" between {spec.window}" if spec.window else ""
            self._update("#preview", Text(f"continuous: keeps one instance running{window}"))
            return
        if not fires:
            self._update("#preview", Text("no fires ahead", style="dim"))
            return
        warning = getattr(self.app, "colours", {}).get("warning", "yellow")
        seconds = any(f.at.second for f in fires)
        clock = "%H:%M:%S" if seconds else "%H:%M"
        lines = Text()
        for i, fire in enumerate(fires):
            if i:
                lines.append("\n")
            local = fire.local.strftime(f"%a %d %b {clock} %Z")
            utc = fire.at.strftime(clock) + "Z"
            days = (fire.at.date() - fire.local.date()).days
            if days:
                utc += f"{days:+d}d"
            lines.append(f"{local}  ")
            lines.append(utc, style="dim")
            if fire.note:
                lines.append(f"\n⚠ {fire.note}", style=f"bold {warning}")
        self._update("#preview", lines)

    # ----------------------------------------------------------------- events
    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self._touched.add(event.input.id.removeprefix("f-"))
        self._check()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "f-kind":
            self._show_kind_fields()
        self._check()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    # ---------------------------------------------------------------- actions
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        spec = self._check(everything=True)
        if spec is None:
            self._save_refused = True
            self._check(everything=True)  # again, now saying on the message line what blocks
            self._focus_first_error()
            return
        if not self._saving:
            self._save(spec)

    def _focus_first_error(self) -> None:
        for name in FIELD_ORDER:
            if self.query_one(f"#field-{name}").has_class("-error"):
                self.query_one(f"#f-{name}").focus()
                return

    @work(exclusive=True, group="save")
    async def _save(self, spec: ScheduleSpec) -> None:
        self._saving = True
        try:
            if spec.cwd and not await asyncio.to_thread(Path(spec.cwd).is_dir):
                raise SwitchyardError("cwd", f"'{spec.cwd}' is not a directory")
            if self._original is None:
                view = await self._engine.add_schedule(spec)
            else:
                view = await self._engine.update_schedule(self._original, spec)
        except SwitchyardError as exc:
            self._save_refused = True
            self._show_errors({exc.field: exc.message}, everything=True)
            self._focus_first_error()
            return
        except StoreUnavailable as exc:
            self._message(f"not saved: {exc}")
            return
        finally:
            self._saving = False
        self.dismiss(view.name)

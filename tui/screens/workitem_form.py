"""An opened work item: its header, every field of its form, a button per form button.

Editable fields are Inputs (a multiline text: a TextArea), choices a Select, checkboxes a
Checkbox; display, read-only and masked fields ("****") are plain text. Each value is
checked as it is typed (type, choices, bounds, pattern: the engine's own rules); pressing
a button (F1, F2, ... or Enter on it) completes the item through the engine, which
checks everything again: a FormInvalid puts each message under its field and focuses the
first one, and nothing else changes. What is typed is kept as the item's draft a second
after typing stops and when Esc leaves, so neither leaving nor a crash loses it.
Opening an item never claims it: ``c`` does, and completing an item waiting in a
workgroup claims it on the way (the engine does that).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from switchyard.engine.vocabulary import WI_IN_PROGRESS
from switchyard.engine.workitems import forms
from switchyard.engine.workitems.views import FieldView, WorkItemDetail
from switchyard.tui import display
from switchyard.tui.screens.answer_once import AnswerOnce
from switchyard.tui.widgets.top_bar import TopBar
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static, TextArea

if TYPE_CHECKING:
    from switchyard.engine.api import Engine
    from switchyard.tui.app import SwitchyardApp

AUTOSAVE = 1.0  # seconds after the last keystroke
MAX_BUTTONS = 9
PLACEHOLDERS = {"number": "a whole number", "decimal": "e.g. 1250.00", "date": "YYYY-MM-DD"}
TYPING = (Input, TextArea)
FKEY = re.compile(r"^f\d+$")


def placeholder(field: FieldView) -> str:
    text = PLACEHOLDERS.get(field.type, "")
    if field.pattern:
        text = f"matching {field.pattern}"
    if field.min is not None or field.max is not None:
        low = "" if field.min is None else field.min
        high = "" if field.max is None else field.max
        text = f"{text} ({low}..{high})".strip()
    return text


def console_node(app: SwitchyardApp) -> str | None:
    """The node this console runs (an embedded engine, or the session node of a console
    attached to a serve node), to tie claimed items to: if it stops or dies they come back
    held at the same user. None: nobody to tie them to (tests without either)."""
    if app.runtime is not None:
        return str(app.runtime.engine.node_id)
    return app.session.id if app.session is not None else None


def shown_value(field: FieldView) -> str:
    if field.masked:
        return "****"
    if field.value is None or field.value == "":
        return "-"
    if field.type == "checkbox":
        return "yes" if field.value else "no"
    return str(field.value)


class WorkItemForm(AnswerOnce[str | None]):
    """Dismisses with the label of the button that completed the item, or None."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back (keeps a draft)", id="workitem_form_back"),
        Binding("c", "claim", "Claim", id="workitem_form_claim"),
        *[
            Binding(
                f"f{n}",
                f"press_button({n - 1})",
                f"Button {n}",
                show=False,
                priority=True,
                id=f"workitem_form_button_{n}",
            )
            for n in range(1, MAX_BUTTONS + 1)
        ],
    ]

    def __init__(self, detail: WorkItemDetail) -> None:
        super().__init__()
        self.detail = detail
        self.item_id = detail.item.id
        self.editable = [f for f in detail.fields if not f.readonly]
        self.buttons = detail.buttons[:MAX_BUTTONS]
        self.errors: dict[str, str] = {}
        self._saved: dict[str, Any] | None = None  # the values last kept as the draft
        self._draft_lock = asyncio.Lock()
        self._timer: Timer | None = None
        self._ready = False
        self._busy = False  # completing or leaving
        self._done = False

    @property
    def engine(self) -> Engine:
        return cast("SwitchyardApp", self.app).engine

    @property
    def may_work(self) -> bool:
        return bool(self.detail.may.get("work")) and self.detail.item.open

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield TopBar()  # the mode stays visible over the whole screen
        yield Static(id="wif-header")
        with VerticalScroll(id="wif-fields", can_focus=False):
            yield from self._fields()
        yield Static(id="wif-message")
        with Horizontal(id="wif-buttons"):
            for index, label in enumerate(self.buttons):
                yield Button(
                    f"F{index + 1} {label}",
                    variant="primary" if index == 0 else "default",
                    compact=True,
                    disabled=not self.may_work,
                    id=f"button-{index}",
                )
            if self._claimable:
                yield Button("c Claim", compact=True, id="claim")
        yield Footer(compact=True)

    def _fields(self) -> Iterator[Widget]:
        for field in self.detail.fields:
            label = field.label + (" *" if field.required and not field.readonly else "")
            yield Vertical(
                Horizontal(
                    Label(label, classes="field-label"), self._widget(field), classes="field-row"
                ),
                Static("", id=f"e-{field.name}", classes="field-error"),
                id=f"field-{field.name}",
                classes=f"field -{field.type}" + (" -multiline" if field.multiline else ""),
            )

    def _widget(self, field: FieldView) -> Widget:
        fid, value, off = f"f-{field.name}", field.value, not self.may_work
        if field.readonly or field.type == "display":
            return Static(Text(shown_value(field)), id=fid, classes="field-value")
        if field.type == "choice":
            choices = list(field.choices or [])
            return Select(
                [(str(c), c) for c in choices],
                value=value if value in choices else Select.NULL,
                prompt="(choose)",
                compact=True,
                disabled=off,
                id=fid,
            )
        if field.type == "checkbox":
            checked = value if isinstance(value, bool) else str(value).lower() in forms.TRUE
            return Checkbox("", checked, compact=True, disabled=off, id=fid)
        text = "" if value is None else str(value)
        if field.type == "text" and field.multiline:
            return TextArea(text, compact=True, disabled=off, id=fid)
        return Input(text, placeholder=placeholder(field), compact=True, disabled=off, id=fid)

    def on_mount(self) -> None:
        self._show_header()
        self._label_buttons()
        self._saved = self.draft_values()
        if self.may_work and self.editable:
            self.query_one(f"#f-{self.editable[0].name}").focus()
        self.call_after_refresh(setattr, self, "_ready", True)  # after the widgets' own events

    def _show_header(self) -> None:
        item, now = self.detail.item, self.engine.clock.now()
        colours = getattr(self.app, "colours", {})
        head = Text.assemble(
            (f"#{item.id} {item.title}", "bold"),
            f" · {item.process} · instance #{item.instance_id}\n",
            (item.status, "bold"),
            f" · with {item.where} · due ",
        )
        if item.due_at is None:
            head.append("-")
        else:
            due = display.clock_time(item.due_at, now)
            head.append(f"{due}{' overdue' if item.overdue else ''}", style=(
                f"bold {colours.get('error', 'red')}" if item.overdue else ""
            ))  # fmt: skip
        if item.held_reason:
            head.append(f" · {item.held_reason}")
        if not self.may_work and item.open:
            head.append(" · read only: not yours to work on", style="dim")
        self.query_one("#wif-header", Static).update(head)

    def _label_buttons(self) -> None:
        """Each button shows the key that presses it (a keymap may have changed it)."""
        keys: dict[str, str] = {}
        for key, active in self.active_bindings.items():
            shown = self.app.get_key_display(active.binding.with_key(key))
            keys.setdefault(active.binding.action, shown.upper() if FKEY.match(shown) else shown)
        for index, label in enumerate(self.buttons):
            key = keys.get(f"press_button({index})", f"F{index + 1}")
            self.query_one(f"#button-{index}", Button).label = f"{key} {label}"
        if self._claimable:
            self.query_one("#claim", Button).label = f"{keys.get('claim', 'c')} Claim"

    # ----------------------------------------------------------------- values
    def values(self) -> dict[str, Any]:
        """The editable fields as typed: text as str, checkbox as bool, choice or None."""
        out: dict[str, Any] = {}
        for field in self.editable:
            widget = self.query_one(f"#f-{field.name}")
            if isinstance(widget, TextArea):
                out[field.name] = widget.text
            elif isinstance(widget, Input | Checkbox):
                out[field.name] = widget.value
            elif isinstance(widget, Select):
                out[field.name] = None if widget.value is Select.NULL else widget.value
        return out

    def draft_values(self) -> dict[str, Any]:
        return {k: v for k, v in self.values().items() if not self._field(k).masked}

    def _field(self, name: str) -> FieldView:
        return next(f for f in self.detail.fields if f.name == name)

    # --------------------------------------------------------------- checking
    def _changed(self, widget: Widget) -> None:
        if not self._ready or not widget.id or not widget.id.startswith("f-"):
            return
        name = widget.id.removeprefix("f-")
        field, value = self._field(name), self.values().get(name)
        try:
            forms.convert(
                {"type": field.type, "choices": field.choices, "min": field.min,
                 "max": field.max, "pattern": field.pattern, "multiline": field.multiline},
                value,
            )  # fmt: skip
        except ValueError as exc:
            self.errors[name] = str(exc)
        else:
            self.errors.pop(name, None)
        self._show_errors()
        if self.may_work:
            if self._timer is not None:
                self._timer.stop()
            self._timer = self.set_timer(AUTOSAVE, self._autosave)

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _on_change(self, event: Input.Changed) -> None:
        self._changed(event.control)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.focus_next()

    def _show_errors(self, general: str = "") -> None:
        for field in self.detail.fields:
            message = self.errors.get(field.name)
            self.query_one(f"#field-{field.name}").set_class(message is not None, "-error")
            self.query_one(f"#e-{field.name}", Static).update(
                Text(f"✗ {message}") if message else ""
            )
        names = {f.name for f in self.detail.fields}
        others = [f"{k}: {v}" for k, v in self.errors.items() if k not in names]
        self._message(" ".join(filter(None, [general, *others])))

    def _message(self, text: str) -> None:
        message = self.query_one("#wif-message", Static)
        message.update(Text(text))
        message.display = bool(text)

    # ------------------------------------------------------------------ draft
    def _autosave(self) -> None:
        self._timer = None
        self._save_quietly()

    @work(group="draft")
    async def _save_quietly(self) -> None:
        with contextlib.suppress(SwitchyardError, StoreUnavailable):  # Esc tells, typing does not
            await self.save_draft()

    async def save_draft(self) -> bool:
        """Keep what is typed as the item's draft (when it changed). True if it did."""
        async with self._draft_lock:
            values = self.draft_values()
            if self._done or not self.may_work or values == self._saved:
                return False
            await self.engine.save_work_item_draft(self.item_id, values)
            self._saved = values
            return True

    # ---------------------------------------------------------------- actions
    @property
    def _claimable(self) -> bool:
        item = self.detail.item
        mine = item.status == WI_IN_PROGRESS and item.user == self.engine.user
        return bool(self.detail.may.get("claim")) and not mine

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "claim":
            if not self._claimable:
                return False
            return None if isinstance(self.focused, TYPING) else True  # c types a c
        return True

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.refresh_bindings()

    @work(group="leave")
    async def action_leave(self) -> None:
        if self._busy:
            return
        self._busy = True
        if self._timer is not None:
            self._timer.stop()
        try:
            await self.save_draft()
        except SwitchyardError as exc:
            self.notify(exc.message, title="draft not kept", severity="warning")
        except StoreUnavailable as exc:
            self.notify(str(exc), title="draft not kept", severity="warning")
        self.dismiss(None)

    @work(group="claim")
    async def action_claim(self) -> None:
        if not self._claimable:
            return
        session = console_node(cast("SwitchyardApp", self.app))
        try:
            view = await self.engine.claim_work_item(self.item_id, session=session)
            self.detail = await self.engine.work_item(self.item_id)
        except SwitchyardError as exc:
            self.notify(exc.message, title="not claimed", severity="error")
            return
        except StoreUnavailable as exc:
            self.notify(str(exc), title="not claimed", severity="error")
            return
        self.notify(f"Work item {view.id} claimed: it is yours now")
        self._show_header()
        for claim in self.query("#claim"):
            if claim.has_focus:
                self.focus_previous()
            await claim.remove()
        self.refresh_bindings()

    def action_press_button(self, index: int) -> None:
        if index < len(self.buttons) and self.may_work:
            self._complete(self.buttons[index])

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "claim":
            self.action_claim()
        elif event.button.id and event.button.id.startswith("button-"):
            self.action_press_button(int(event.button.id.removeprefix("button-")))

    @work(group="complete")
    async def _complete(self, label: str) -> None:
        if self._busy or self._done:
            return  # one press at a time
        self._busy = True
        if self._timer is not None:
            self._timer.stop()
        try:
            await self.engine.complete_work_item(self.item_id, label, self.values())
        except forms.FormInvalid as exc:
            self.errors = dict(exc.errors)
            general = self.errors.pop("button", "")
            self._show_errors(general)
            self._focus_first_error()
            return
        except SwitchyardError as exc:
            self._message(exc.message)
            self.notify(exc.message, title=f"not completed: {exc.field}", severity="error")
            return
        except StoreUnavailable as exc:
            self._message(f"not completed: {exc}")
            return
        finally:
            self._busy = False
        self._done = True
        self.notify(f"Work item {self.item_id} completed ({label})")
        self.dismiss(label)

    def _focus_first_error(self) -> None:
        for field in self.editable:
            if field.name in self.errors:
                self.query_one(f"#f-{field.name}").focus()
                return

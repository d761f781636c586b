"""The small modal form of the Admin screen: a few text fields, choices and checkboxes.

The screen that opens it says what the fields are and what saving does (an engine call
taking the values by field name). Tab / Shift+Tab move between fields, Enter saves from
any field (Space toggles a checkbox or opens a choice), Esc cancels. A refusal from the
engine is shown in the form, naming the field it is about; nothing is changed and the
form stays open with its values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from rich.text import Text
from switchyard.engine.errors import Refused, StoreUnavailable, SwitchyardError
from switchyard.tui.screens.answer_once import Dialog
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

Values = dict[str, Any]  # field name -> str (text, choice) or bool (checkbox)
Save = Callable[[Values], Awaitable[object]]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: Literal["text", "choice", "check"] = "text"
    value: str | bool = ""
    choices: tuple[str, ...] = ()
    placeholder: str = ""  # a checkbox: its label


def split_names(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [part.strip() for part in text.split(",") if part.strip()]


class AdminForm(Dialog[bool]):
    """Dismisses with True once ``save`` succeeded, False when cancelled."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "save", "Save", priority=True, id="admin_form_save"),
        Binding("escape", "cancel", "Cancel", id="admin_form_cancel"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        save: Save,
        *,
        note: str = "",
        done: str | Callable[[Values], str] = "saved",
        key_of: Callable[[Values], str] | None = None,
    ) -> None:
        """``done``: the notice once saved (or how to make it from the values); ``key_of``:
        the table row the change is about, from the values (to put the cursor on)."""
        super().__init__()
        self._title = title
        self._fields = list(fields)
        self._save_with = save
        self._note = note
        self._done = done
        self._key_of = key_of
        self._saving = False
        self.saved: Values | None = None  # the values, once saved

    @property
    def done_message(self) -> str:
        if self.saved is None:
            return ""
        return self._done(self.saved) if callable(self._done) else self._done

    @property
    def row_key(self) -> str | None:
        if self.saved is None or self._key_of is None:
            return None
        return self._key_of(self.saved)

    def compose(self) -> ComposeResult:
        with Vertical(id="admin-form") as dialog:
            dialog.border_title = self._title
            if self._note:
                yield Static(Text(self._note), id="admin-form-note")
            for field in self._fields:
                with Horizontal(classes="admin-field", id=f"field-{field.name}"):
                    yield Label(field.label, classes="admin-field-label")
                    yield self._widget(field)
            yield Static("", id="admin-form-error")
            with Horizontal(id="admin-form-buttons"):
                yield Button("Save ⏎", variant="primary", compact=True, id="save")
                yield Button("Cancel esc", compact=True, id="cancel")

    def _widget(self, field: Field) -> Widget:
        wid = f"f-{field.name}"
        if field.kind == "check":
            return Checkbox(field.placeholder, bool(field.value), compact=True, id=wid)
        if field.kind == "choice":
            return Select(
                [(c, c) for c in field.choices],
                value=str(field.value or field.choices[0]),
                allow_blank=False,
                compact=True,
                id=wid,
            )
        return Input(str(field.value), placeholder=field.placeholder, compact=True, id=wid)

    def on_mount(self) -> None:
        if self._fields:
            self.query_one(f"#f-{self._fields[0].name}").focus()

    # ------------------------------------------------------------------ values
    def values(self) -> Values:
        found: Values = {}
        for field in self._fields:
            widget = self.query_one(f"#f-{field.name}")
            if isinstance(widget, Input):
                found[field.name] = widget.value.strip()
            elif isinstance(widget, Checkbox):
                found[field.name] = widget.value
            elif isinstance(widget, Select):
                found[field.name] = widget.value if isinstance(widget.value, str) else ""
        return found

    @property
    def error(self) -> str:
        return str(self.query_one("#admin-form-error", Static).content)

    def show_error(self, message: str, field: str | None = None) -> None:
        error = self.query_one("#admin-form-error", Static)
        error.update(Text(f"✗ {message}" if message else ""))
        error.set_class(bool(message), "-shown")
        for f in self._fields:
            self.query_one(f"#field-{f.name}").set_class(f.name == field, "-error")
        if field and self.query(f"#f-{field}"):
            self.query_one(f"#f-{field}").focus()

    # ----------------------------------------------------------------- actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save":
            # Enter belongs to an open choice list and to the buttons
            focused = self.focused
            if isinstance(focused, Button) or any(s.expanded for s in self.query(Select)):
                return False
        return True

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_save(self) -> None:
        if not self._saving:
            self._saving = True
            self._save(self.values())

    @work(exclusive=True, group="save")
    async def _save(self, values: Values) -> None:
        try:
            await self._save_with(values)
        except SwitchyardError as exc:
            named = any(f.name == exc.field for f in self._fields)
            field = exc.field if named and not isinstance(exc, Refused) else None
            self.show_error(f"{exc.field}: {exc.message}", field)
            return
        except StoreUnavailable as exc:
            self.show_error(f"not saved: {exc}")
            return
        finally:
            self._saving = False
        self.saved = values
        self.dismiss(True)

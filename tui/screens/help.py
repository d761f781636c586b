"""Help: every key of the screen it was opened from, with the binding id used to remap it.

The global keys (screens, Esc/Back, help, quit, ...) come first in a compact line above
the table, so they are on the first page even at 80x24; the table lists them again, last,
with their ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from switchyard.tui.screens.answer_once import Dialog
from switchyard.tui.widgets.keyed_table import Column, KeyedTable
from switchyard.tui.widgets.top_bar import TopBar
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static


@dataclass(frozen=True)
class KeyHelp:
    group: str  # "Schedules", "table", "global", ...
    keys: str  # "e, enter"
    description: str
    binding_id: str | None


def bindings_of(screen: Screen[object]) -> list[KeyHelp]:
    """The active bindings of ``screen`` (keymap applied): one row per binding, its keys
    joined; the screen's own first, then the focused widget's, then the global ones."""
    app = screen.app
    here = screen.title or type(screen).__name__
    rows: dict[tuple[str, str, str | None], tuple[list[str], str, bool]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if binding.system:
            continue
        node = active.node
        if node is app:
            group = "global"
        elif node is screen:
            group = here
        else:
            group = getattr(node, "HELP_GROUP", None) or node.id or type(node).__name__
        display = app.get_key_display(binding.with_key(key))
        entry = rows.setdefault(
            (group, binding.action, binding.id),
            ([], binding.description or binding.action, binding.show),
        )
        if display not in entry[0]:
            entry[0].append(display)

    def rank(
        item: tuple[tuple[str, str, str | None], tuple[list[str], str, bool]],
    ) -> tuple[int, bool, bool]:
        (group, _, binding_id), (_, _, shown) = item
        place = 0 if group == here else 2 if group == "global" else 1
        return (place, binding_id is None, not shown)

    return [
        KeyHelp(group, ", ".join(keys), description, binding_id)
        for (group, _, binding_id), (keys, description, _) in sorted(rows.items(), key=rank)
    ]


class HelpScreen(Dialog[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help_close"),
    ]

    COLUMNS = (
        Column("group", "where", fit=True, max_width=12),
        Column("keys", "keys", fit=True, max_width=14),
        Column("what", "what"),
        Column("id", "keymap id", fit=True, max_width=24),
    )

    def __init__(self, title: str, keys: Sequence[KeyHelp]) -> None:
        super().__init__()
        self._title = title
        self._keys = list(keys)

    def global_line(self) -> Text:
        """``global: 1/2/…/6 screens · esc Back · ? Help · q Quit …`` (keymap applied)."""
        glob = [k for k in self._keys if k.group == "global"]
        screens = [k for k in glob if (k.binding_id or "").startswith("screen_")]
        parts = []
        if screens:
            parts.append(f"{'/'.join(k.keys for k in screens)} screens")
        first = ("back", "help", "quit", "palette", "timers")
        rest = sorted(
            (k for k in glob if k not in screens),
            key=lambda k: first.index(k.binding_id) if k.binding_id in first else len(first),
        )
        parts += [f"{k.keys} {k.description}" for k in rest]
        return Text.assemble(("global: ", "bold"), " · ".join(parts))

    def compose(self) -> ComposeResult:
        yield TopBar()  # the mode stays visible over the whole screen
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = f"Keys — {self._title}"
            yield Static(self.global_line(), id="help-global")
            table = KeyedTable(self.COLUMNS, id="help-keys")
            table.set_rows(
                [
                    (str(i), [k.group, k.keys, k.description, k.binding_id or ""])
                    for i, k in enumerate(self._keys)
                ]
            )
            yield table
            yield Static(
                Text(
                    "Remap a key by its id in $XDG_CONFIG_HOME/switchyard/keymap.toml\n"
                    '(default ~/.config/switchyard/keymap.toml), e.g.  [keys]  run_now = "x"'
                ),
                id="help-hint",
            )

    def action_close(self) -> None:
        self.dismiss(None)

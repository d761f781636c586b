"""The top line: the screens with their keys (the current one highlighted) and the mode
of this console (embedded engine, or which node runs the work).

The mode is always shown: when the line is narrow it loses, in this order, the spaces
between the screens, the "Switchyard" title, the long form of the mode ("embedded engine"
-> "embedded", "console — work runs on node X" -> "node X"), then the labels of the screens
other than the current one (their keys stay). The keys come from the app's bindings when
the focused widget takes the digits (a filter being typed), so they do not vanish.
"""

from __future__ import annotations

from textual.app import RenderResult
from textual.binding import Binding
from textual.content import Content
from textual.widget import Widget

# mode name -> label; the key shown is whatever binding switches to it (keymap applied)
SCREENS: dict[str, str] = {
    "schedules": "Schedules",
    "queue": "Queue",
    "monitor": "Monitor",
    "workitems": "Work Items",
    "admin": "Admin",
    "events": "Events",
}


class TopBar(Widget):
    DEFAULT_CSS = """
    TopBar {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        color: $text;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "sub_title", self._sub_title_changed, init=False)

    def _sub_title_changed(self) -> None:
        self.refresh()

    def _keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        found: list[tuple[str, Binding]] = [
            (key, active.binding) for key, active in self.screen.active_bindings.items()
        ]
        # an Input consumes the digits while it has focus: the app's own bindings then
        found += [
            (key, binding)
            for key, bindings in self.app._bindings.key_to_bindings.items()
            for binding in bindings
        ]
        for key, binding in found:
            action = binding.action.replace('"', "'")
            for mode in SCREENS:
                if action == f"switch_mode('{mode}')" and mode not in keys:
                    keys[mode] = self.app.get_key_display(binding.with_key(key))
        return keys

    def _screens(
        self, keys: dict[str, str], *, spaced: bool, labels: bool, title: bool = True
    ) -> Content:
        """The title and the screens; narrow: without the spaces between the screens,
        narrower: the screens other than the current one by their key alone."""
        current = self.app.current_mode
        parts: list[Content | str] = []
        if title:
            parts.append(Content.styled(" Switchyard ", "bold $accent"))
        for mode, label in SCREENS.items():
            key = keys.get(mode, "")
            if not labels and key and mode != current:
                label = ""
            text = " ".join(["", *(x for x in (key, label) if x), ""])
            style = "bold reverse $accent" if mode == current else "$text-muted"
            parts.append(Content.styled(text, style).stylize(f"@click=app.switch_mode('{mode}')"))
            parts.append(" " if spaced else "")
        return Content.assemble(*parts)

    def render(self) -> RenderResult:
        keys = self._keys()
        full = str(self.app.sub_title)
        short = short_mode(full)
        layouts = (  # spaced, labels, title, mode: the first that fits
            (True, True, True, full),
            (False, True, True, full),
            (False, True, False, full),
            (False, True, False, short),
            (False, False, True, full),
            (False, False, True, short),
            (False, False, False, short),
        )
        for spaced, labels, title, mode in layouts:
            left = self._screens(keys, spaced=spaced, labels=labels, title=title)
            if left.cell_length + 1 + len(mode) + 1 <= self.size.width:
                break
        right = Content(f"{mode} ")
        room = self.size.width - left.cell_length - 1
        if right.cell_length > room:  # narrow: the mode is cut, never the screens
            right = Content.assemble(right.truncate(max(room - 1, 0), ellipsis=True), " ")
        gap = max(1, self.size.width - left.cell_length - right.cell_length)
        return Content.assemble(left, " " * gap, right)


def short_mode(mode: str) -> str:
    """The mode in a word or two: "embedded", "node X", "no node", "no engine"."""
    if mode.startswith("embedded"):
        return "embedded"
    if "on node " in mode:
        return "node " + mode.rsplit("on node ", 1)[1]
    if "no live node" in mode:
        return "no node"
    if "no engine" in mode:
        return "no engine"
    return mode

"""The top line: the screens with their keys (the current one highlighted) and the mode
of this console (embedded engine, or which node runs the work)."""

from __future__ import annotations

from textual.app import RenderResult
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
        for key, active in self.screen.active_bindings.items():
            action = active.binding.action.replace('"', "'")
            for mode in SCREENS:
                if action == f"switch_mode('{mode}')" and mode not in keys:
                    keys[mode] = self.app.get_key_display(active.binding.with_key(key))
        return keys

    def _screens(self, keys: dict[str, str], *, spaced: bool, labels: bool) -> Content:
        """The title and the screens; narrow: without the spaces between the screens,
        narrower: the screens other than the current one by their key alone."""
        current = self.app.current_mode
        parts: list[Content | str] = [Content.styled(" Switchyard ", "bold $accent")]
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
        for spaced, labels in ((True, True), (False, True), (False, False)):
            left = self._screens(keys, spaced=spaced, labels=labels)
            if left.cell_length <= self.size.width:
                break
        right = Content(f"{self.app.sub_title} ")
        room = self.size.width - left.cell_length - 1
        if right.cell_length > room:  # narrow: the mode is cut, never the screens
            right = Content.assemble(right.truncate(max(room - 1, 0), ellipsis=True), " ")
        gap = max(1, self.size.width - left.cell_length - right.cell_length)
        return Content.assemble(left, " " * gap, right)

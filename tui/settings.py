"""The console's own settings: ``$XDG_CONFIG_HOME/switchyard/console.toml`` (0600).

    theme = "switchyard-high-contrast"

The theme is the one chosen last in the command palette (ctrl+p, "Theme"); the console
writes the file itself when the theme changes. A file that cannot be read or names an
unknown theme is ignored (the default theme is used), never fatal.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from switchyard.engine import paths
from switchyard.tui.keymap import default_keymap_path
from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="switchyard-high-contrast",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ff00ff",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    success="#00ff00",
    warning="#ffff00",
    error="#ff5555",
    boost="#ffffff",
    dark=True,
    variables={
        "block-cursor-background": "#ffff00",
        "block-cursor-foreground": "#000000",
        "block-cursor-text-style": "bold",
        "footer-key-foreground": "#ffff00",
        "input-selection-background": "#ffff00 60%",
        "border": "#ffffff",
    },
)


def default_settings_path() -> Path:
    return default_keymap_path().with_name("console.toml")


def load_theme(path: Path) -> str | None:
    """The theme named in ``path``, or None (missing, unreadable, not TOML, no theme)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    theme = data.get("theme")
    return theme if isinstance(theme, str) and theme else None


def save_theme(path: Path, theme: str) -> None:
    """Write ``theme = "..."`` to ``path`` (0600 in a 0700 folder); OSError as is."""
    with paths.open_private(path, "w") as handle:
        handle.write(f"theme = {json.dumps(theme)}\n")  # a JSON string is a TOML basic string

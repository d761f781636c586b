"""The user's keymap file: ``$XDG_CONFIG_HOME/switchyard/keymap.toml``.

    [keys]
    run_now = "x"          # binding id = key, or several keys: "x,ctrl+r"

Binding ids are listed by the help screen (``?``). A file that cannot be used is reported
(file name and problem) and the keys it could not set keep their defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from textual.binding import Binding, BindingType

MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
KEY_NAME = re.compile(r"^[a-z0-9_]+$")


def default_keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "switchyard" / "keymap.toml"


def binding_ids(holders: Iterable[type]) -> set[str]:
    """Every binding id declared by these classes (apps, screens, widgets)."""
    ids: set[str] = set()
    for holder in holders:
        bindings: list[BindingType] = list(getattr(holder, "BINDINGS", []))
        for binding in bindings:
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return ids


def _key_problem(key: str) -> str | None:
    *mods, base = key.split("+")
    if not base:
        return "has no key after '+'"
    unknown = [m for m in mods if m not in MODIFIERS]
    if unknown:
        return f"unknown modifier '{unknown[0]}' (use ctrl, shift, alt, meta, super)"
    if len(base) > 1 and not KEY_NAME.match(base):
        return f"'{base}' is not a key name (like x, G, f5, pageup, question_mark)"
    return None


@dataclass
class Keymap:
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_keymap(path: Path, known: set[str] | Callable[[], set[str]]) -> Keymap:
    """Read ``path`` (missing: an empty keymap). Never raises for a bad file. ``known``:
    the binding ids, or a function giving them (called only when there is a file)."""
    result = Keymap()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return result
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(f"cannot read it: {exc}")
        return result
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        result.problems.append(f"not valid TOML: {exc}")
        return result
    keys = data.get("keys")
    if callable(known):
        known = known()
    if not isinstance(keys, dict):
        result.problems.append('needs a [keys] table of binding_id = "key" lines')
        return result
    for binding_id, value in keys.items():
        if binding_id not in known:
            result.problems.append(f"unknown binding id '{binding_id}' (? lists the ids)")
            continue
        if not isinstance(value, str) or not value.strip():
            result.problems.append(f'{binding_id}: give the key as a string, like "x"')
            continue
        wanted = [k.strip() for k in value.split(",") if k.strip()]
        bad = next(((k, p) for k in wanted if (p := _key_problem(k))), None)
        if bad:
            result.problems.append(f"{binding_id}: '{bad[0]}' {bad[1]}")
            continue
        result.keys[binding_id] = ",".join(wanted)
    return result

"""Global options after the command words: ``switchyard lane list --db URL`` works as
``switchyard --db URL lane list`` does.

Before click parses, the global options given among a command's own options (before any
``--``) are moved in front of the command words, after the ones already there, so the last
one given still wins. The scan knows the command's own options: a word that is the value
of one of them (``--cwd --db``) stays where it is. ``--ssh-user`` is not moved: it
belongs in an SSH forced command, in front (tui/cli/access.py).
"""

from __future__ import annotations

from typing import Any

#: option -> whether it takes a value
HOISTED = {"--db": True, "--as": True, "--allow-shared-mode": False}


def _valued(command: Any) -> set[str]:
    """The command's own options that take a value (their next word is that value)."""
    out: set[str] = set()
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") != "option":
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        out.update(param.opts)
    return out


def _own(command: Any) -> set[str]:
    return {opt for param in getattr(command, "params", []) for opt in getattr(param, "opts", [])}


def hoist_globals(argv: list[str], root: Any) -> list[str]:
    """``argv`` with the global options found after the command words moved before them."""
    root_valued = _valued(root)
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] != "--":
        index += 2 if argv[index] in root_valued else 1
    front = index
    command = root
    while index < len(argv) and argv[index] in (getattr(command, "commands", None) or {}):
        command = command.commands[argv[index]]
        index += 1
    if getattr(command, "commands", None) is not None:
        return argv  # a group without its command: click says so
    valued, own = _valued(command), _own(command)
    moved: list[str] = []
    rest: list[str] = []
    words = argv[index:]
    position = 0
    while position < len(words):
        word = words[position]
        if word == "--":
            rest.extend(words[position:])
            break
        name = word.split("=", 1)[0]
        if name in HOISTED and name not in own:
            takes_value = HOISTED[name] and "=" not in word
            moved.extend(words[position : position + (2 if takes_value else 1)])
            position += 2 if takes_value else 1
            continue
        step = 2 if word in valued else 1
        rest.extend(words[position : position + step])
        position += step
    return [*argv[:front], *moved, *argv[front:index], *rest]

"""The files of ``switchyard export`` / ``import`` (engine/ops/exchange.py): one YAML file
per object, written the same way every time (keys sorted, block style, fixed width), and
read back bounded (file count, file size, depth and alias caps of the definitions' loader,
engine/definitions/yamlsrc.py). Blocking: called through ``asyncio.to_thread``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from switchyard.engine.definitions import yamlsrc
from switchyard.engine.errors import NotFound, SwitchyardError
from switchyard.store import filemodes

MAX_FILES = 10_000
WIDTH = 100  # fixed, so a long value wraps the same way on every export

#: the object folders, in the order they are applied (removals: reverse order)
KINDS = (
    "lanes",
    "users",
    "groups",
    "secspecs",
    "processes",
    "schedules",
    "rights",
    "params",
    "filters",
)
SECRETS_FILE = "secrets.yaml"


def dump(data: Any) -> str:
    """One object as YAML text: sorted keys, block style, unicode kept, width fixed."""
    text: str = yaml.safe_dump(
        data, sort_keys=True, default_flow_style=False, allow_unicode=True, width=WIDTH
    )
    return text


def safe_stem(text: str) -> str:
    """A name as a file name: '/' and a leading '.' cannot be part of one."""
    out = text.replace("/", "%2F").replace("*", "ALL")
    return "%2E" + out[1:] if out.startswith(".") else out


def write_tree(root: Path, files: dict[str, str]) -> None:
    """``files`` (relative path -> text) under ``root``: folders 0700, files 0600."""
    filemodes.private_umask()
    filemodes.private_dir(root)
    for rel, text in sorted(files.items()):
        path = root / rel
        filemodes.private_dir(path.parent)
        with filemodes.open_private(path, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)


def read_tree(root: Path) -> dict[str, str]:
    """Every ``*.yaml`` under ``root`` (relative path -> text), bounded."""
    if not root.is_dir():
        raise NotFound("dir", f"{root}: no such directory")
    found: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            if not name.endswith(".yaml"):
                continue
            path = Path(folder) / name
            if len(found) >= MAX_FILES:
                raise SwitchyardError("dir", f"{root}: more than {MAX_FILES} files")
            if path.stat().st_size > yamlsrc.MAX_FILE_BYTES:
                raise SwitchyardError(
                    str(path), f"larger than {yamlsrc.MAX_FILE_BYTES // 2**20} MiB"
                )
            try:
                found[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise SwitchyardError(str(path), f"not UTF-8 text ({exc.reason})") from None
    return found


def load(text: str, where: str) -> Any:
    """A file's data through the bounded loader; the first issue: SwitchyardError naming
    the file, line, column and field."""
    issues: list[str] = []

    def report(line: int, col: int, path: str, message: str) -> None:
        issues.append(f"{where}:{line}:{col}: {path}: {message}")

    node = yamlsrc.compose(text, report) if yamlsrc.preflight(text, report) else None
    if node is not None:
        yamlsrc.check_tree(node, report)
    if issues or node is None:
        raise SwitchyardError(where, issues[0] if issues else "empty file")
    return yamlsrc.to_py(node)

"""The public value types of the definitions package: issues, the error, known names, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Issue:
    """One problem in a definition file, at a 1-based line and column of the offending node.

    ``str()`` is ``"file:line:col: path: message"``; a warning reads
    ``"file:line:col: path: warning: message"`` (the word goes after the location so that
    editors still jump to it).
    """

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {prefix}{self.message}"


class DefinitionError(Exception):
    """A definition that cannot be published; ``issues`` holds every error found, in order."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class Known:
    """Names that exist outside the file. ``None`` means "not checked"."""

    lanes: set[str] | None = None
    secrets: set[str] | None = None
    workgroups: set[str] | None = None
    users: set[str] | None = None
    processes: set[str] | None = None
    sql_connections: set[str] | None = None
    secspecs: set[str] | None = None


@dataclass(frozen=True)
class Definition:
    """A validated, normalised process definition (``doc`` is JSON-serialisable)."""

    name: str
    doc: dict[str, Any]
    source: str
    filename: str
    digest: str  # sha256 hex of ``source``
    warnings: list[Issue] = field(default_factory=list)

"""Process definitions: YAML files loaded with line marks, validated, normalised.

``parse_definition(text, filename, known)`` returns a :class:`Definition` whose ``doc`` is
the normalised, JSON-serialisable form the executor runs, or raises :class:`DefinitionError`
holding every :class:`Issue` found (file, 1-based line and column, path such as
``states.review.actions[2].send_work_item.to``, message). Unreachable states are warnings,
kept on ``Definition.warnings``.
"""

from __future__ import annotations

from switchyard.engine.definitions.model import Definition, DefinitionError, Issue, Known
from switchyard.engine.definitions.parse import load_file, parse_definition

__all__ = ["Definition", "DefinitionError", "Issue", "Known", "load_file", "parse_definition"]

"""Process definitions: YAML files loaded with line marks, validated, normalised.

``parse_definition(text, filename, known)`` returns a :class:`Definition` whose ``doc`` is
the normalised, JSON-serialisable form the executor runs, or raises :class:`DefinitionError`
holding every :class:`Issue` found (file, 1-based line and column, path such as
``states.review.actions[2].send_work_item.to``, message). Unreachable states are warnings,
kept on ``Definition.warnings``.

The parser (and Jinja, which it compiles expressions with) is imported on first use of
``load_file`` or ``parse_definition``: importing ``values`` or the model, as the engine's
facade does, costs the command line nothing more (issue 14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchyard.engine.definitions.model import Definition, DefinitionError, Issue, Known

if TYPE_CHECKING:
    from switchyard.engine.definitions.parse import load_file, parse_definition

_LAZY = frozenset({"load_file", "parse_definition"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from switchyard.engine.definitions import parse

        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Definition", "DefinitionError", "Issue", "Known", "load_file", "parse_definition"]

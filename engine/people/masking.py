"""Variable masking: a variable tied to a security specification (``security: SPEC``) is
shown as ``****`` to everyone outside the spec, on every way its value leaves the engine.

Who is inside: a user the spec lists, a member of a group it lists, or a holder of a role
it lists. Admins are not exempt (data security is not an admin right), and a spec that no
longer exists masks for everyone (fail closed).

Structured outputs (instance variables, history entries naming the variable) are masked by
name. Free text (log lines, step notes and errors, history details) is masked by value:
every occurrence of a hidden value's text is replaced. Values shorter than
``MIN_TEXT_MASK`` characters are not replaced in free text (masking "1" or "no" in every
line would destroy the log); they stay hidden wherever they are structured.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from switchyard.engine.people.identity import Identity

MASK = "****"
MIN_TEXT_MASK = 4


def in_spec(identity: Identity, spec: dict[str, Any] | None) -> bool:
    if spec is None:
        return False
    if identity.login in (spec.get("users") or ()):
        return True
    if set(identity.groups) & set(spec.get("groups") or ()):
        return True
    return bool(set(identity.roles) & set(spec.get("roles") or ()))


def secured_variables(doc: dict[str, Any] | None) -> dict[str, str]:
    """Variable name -> its security spec, for the variables of a definition that have one."""
    specs = (doc or {}).get("variables") or {}
    return {name: spec["security"] for name, spec in specs.items() if spec.get("security")}


def secured_texts(doc: dict[str, Any] | None, stored: dict[str, Any]) -> list[str]:
    """The values of an instance's secured variables as they may appear in text (4+
    characters): what no log file may hold, whoever reads it."""
    texts = {
        t
        for name in secured_variables(doc)
        for t in _texts(stored.get(name))
        if len(t) >= MIN_TEXT_MASK
    }
    return sorted(texts, key=len, reverse=True)


def _texts(value: Any) -> Iterable[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
        return
    if isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
        yield json.dumps(value)
        return
    yield str(value)


@dataclass(frozen=True)
class Masker:
    """Masks what one viewer may not see of one instance. ``hidden``: variable names."""

    hidden: frozenset[str] = frozenset()
    texts: tuple[str, ...] = ()  # longest first, so a value inside another is not split

    @property
    def active(self) -> bool:
        return bool(self.hidden)

    @classmethod
    def build(
        cls,
        identity: Identity,
        doc: dict[str, Any] | None,
        specs: dict[str, dict[str, Any]],
        stored: dict[str, Any],
    ) -> Masker:
        secured = secured_variables(doc)
        hidden = frozenset(
            name for name, spec in secured.items() if not in_spec(identity, specs.get(spec))
        )
        texts = {t for name in hidden for t in _texts(stored.get(name)) if len(t) >= MIN_TEXT_MASK}
        return cls(hidden, tuple(sorted(texts, key=len, reverse=True)))

    def text(self, line: str) -> str:
        for secret in self.texts:
            if secret in line:
                line = line.replace(secret, MASK)
        return line

    def lines(self, lines: list[str]) -> list[str]:
        return [self.text(line) for line in lines] if self.texts else lines

    def variables(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: (MASK if k in self.hidden else v) for k, v in values.items()}

    def detail(self, detail: dict[str, Any]) -> dict[str, Any]:
        """A history detail: ``{"name": N, "value": V}`` of a hidden N, any key that is a
        hidden variable's name, and hidden values inside free text."""
        out: dict[str, Any] = {}
        for key, value in detail.items():
            if key in self.hidden or (key == "value" and detail.get("name") in self.hidden):
                out[key] = MASK
            else:
                out[key] = self._deep(value)
        return out

    def _deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return self.detail(value)
        if isinstance(value, list):
            return [self._deep(v) for v in value]
        return value

    def history(self, entries: list[Any]) -> list[Any]:
        """HistoryView records (engine/process/views.py) with masked details."""
        return [replace(h, detail=self.detail(h.detail)) for h in entries]

    def steps(self, steps: list[Any]) -> list[Any]:
        """StepView records with hidden values taken out of their notes and errors."""
        if not self.texts:
            return steps
        return [
            replace(
                s,
                note=self.text(s.note) if s.note else s.note,
                error=self.text(s.error) if s.error else s.error,
            )
            for s in steps
        ]

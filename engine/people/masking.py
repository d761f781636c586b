"""Variable masking: a variable tied to a security specification (``security: SPEC``) is
shown as ``****`` to everyone outside the spec, on every way its value leaves the engine.

Who is inside: a user the spec lists, a member of a group it lists, or a holder of a role
it lists. Admins are not exempt (data security is not an admin right), and a spec that no
longer exists masks for everyone (fail closed).

Structured outputs (instance variables, history entries naming the variable) are masked by
name. Free text (log lines, step notes and errors, history details, reason, outcome) is
masked by value: every occurrence of a hidden value's text is replaced. Values shorter than
``MIN_TEXT_MASK`` characters are not replaced in free text (masking "1" or "no" in every
line would destroy the log); they stay hidden wherever they are structured.

:class:`TextMasker` is the one text masker every exit uses: command output and instance
logs (engine/runs/runner.py, engine/process/host.py), step notes, errors, reasons, outcomes and
history written by the executor (masked for secrets when written), HTTP/SQL/mail messages,
and, per viewer, what the API shows (:class:`Masker`, secured values). For a secret it
also masks its common transforms (upper, lower, reversed, base64, hex, URL-encoded,
JSON-escaped): publishing refuses
filters on secrets (engine/definitions/flow.py), this is defence in depth.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, quote_plus

from switchyard.engine.people.identity import Identity
from switchyard.engine.views import InstanceView

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


def secret_variants(secret: str) -> set[str]:
    """A secret and the transforms of it most likely to reach text by mistake."""
    if len(secret) < MIN_TEXT_MASK:
        return {secret} if secret else set()
    raw = secret.encode()
    found = {secret, secret.upper(), secret.lower(), secret[::-1], raw.hex(), raw.hex().upper()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode()
        found.update({text, text.rstrip("=")})
    # escaped as in a URL (curl -v, an HTTP log line) or inside a JSON string
    found.update({quote(secret, safe=""), quote(secret), quote_plus(secret)})
    found.add(json.dumps(secret)[1:-1])
    found.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    return {v for v in found if v}


FRAGMENT = 8  # a run of this many characters of a secret counts as the secret


def holds_fragment(text: str, secrets: Iterable[str], size: int = FRAGMENT) -> bool:
    """True when ``text`` holds ``size`` consecutive characters of a secret (a slice of
    it), as they are or in upper or lower case. For short texts (command lines), not logs."""
    folded = text.lower()
    for secret in secrets:
        low = secret.lower()
        if len(low) >= size and any(
            low[i : i + size] in folded for i in range(len(low) - size + 1)
        ):
            return True
    return False


class TextMasker:
    """Replaces every occurrence of every hidden text by ``****``: ``secrets`` (with
    :func:`secret_variants`) and ``plain`` values (as they are).

    Overlapping or adjacent occurrences are merged, so overlapping values are masked fully.
    For a multi-line value each of its lines (stripped, 4+ characters) is masked too, since
    output is masked line by line.
    """

    def __init__(self, secrets: Iterable[str] = (), *, plain: Iterable[str] = ()) -> None:
        found = {v for secret in secrets if secret for v in secret_variants(secret)}
        found |= {value for value in plain if value}
        for value in list(found):
            if "\n" in value:
                found.update(p.strip() for p in value.splitlines() if len(p.strip()) >= 4)
        self._values: tuple[str, ...] = tuple(sorted(found, key=lambda s: (-len(s), s)))
        self._longest = len(self._values[0]) if self._values else 0

    def __bool__(self) -> bool:
        return bool(self._values)

    def with_secrets(self, more: Iterable[str]) -> TextMasker:
        """This masker plus more values (masked as they are)."""
        return TextMasker(plain=[*self._values, *more])

    def _spans(self, text: str) -> list[list[int]]:
        spans: list[tuple[int, int]] = []
        for value in self._values:
            i = text.find(value)
            while i != -1:
                spans.append((i, i + len(value)))
                i = text.find(value, i + 1)
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return merged

    @staticmethod
    def _render(text: str, spans: list[list[int]]) -> str:
        out: list[str] = []
        pos = 0
        for start, end in spans:
            out += (text[pos:start], MASK)
            pos = end
        return "".join([*out, text[pos:]])

    def mask(self, text: str) -> str:
        return self._render(text, self._spans(text)) if self._values else text

    def deep(self, value: Any) -> Any:
        """Strings inside dicts and lists masked (keys kept)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.deep(v) for v in value)
        return value

    def mask_head(self, text: str, limit: int) -> tuple[str, str]:
        """Mask ~``limit`` leading chars of an unfinished line -> (masked head, unmasked rest).

        The cut never falls inside a hidden value, and every one starting before it is in
        ``text``.
        """
        if not self._values:
            return text[:limit], text[limit:]
        cut = min(limit, len(text) - self._longest + 1)
        if cut <= 0:
            return "", text
        spans = self._spans(text)
        for start, end in spans:
            if start < cut < end:
                cut = start if start > 0 else end
                break
        return self._render(text[:cut], [s for s in spans if s[1] <= cut]), text[cut:]


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
        return cls.hiding(hidden, stored)

    @classmethod
    def hiding(cls, hidden: frozenset[str], stored: dict[str, Any]) -> Masker:
        """A masker of the ``hidden`` variables, their values (``stored``) out of text."""
        texts = {t for name in hidden for t in _texts(stored.get(name)) if len(t) >= MIN_TEXT_MASK}
        return cls(hidden, tuple(sorted(texts, key=len, reverse=True)))

    def text(self, line: str) -> str:
        return TextMasker(plain=self.texts).mask(line) if self.texts else line

    def optional(self, line: str | None) -> str | None:
        return self.text(line) if line else line

    def view(self, view: InstanceView) -> InstanceView:
        """An InstanceView (engine/views.py) with hidden values out of its free text."""
        if not self.texts:
            return view
        return replace(
            view,
            reason=self.optional(view.reason),
            command=[self.text(part) for part in view.command],
            current_action=self.optional(view.current_action),
        )

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

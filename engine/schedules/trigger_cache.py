"""Parsed triggers by their stored JSON text: a burst parses each distinct trigger once."""

from __future__ import annotations

import json
from typing import Any

from switchyard.engine.schedules.triggers import Trigger


class TriggerCache:
    """Parsed triggers by their stored JSON text (or fields): schedules with the same
    trigger share one (immutable) parse, so a burst of 10,000 "0 9 * * *" schedules parses
    it once."""

    MAX = 10_000

    def __init__(self) -> None:
        self._cache: dict[Any, Trigger] = {}

    def get(self, row: dict[str, Any]) -> Trigger:
        """The trigger of a row holding ``trigger_json`` (``sched_q.due``) or ``trigger``."""
        text = row.get("trigger_json")
        if isinstance(text, str):
            trigger = self._cache.get(text)
            if trigger is None:
                trigger = self._put(text, Trigger.from_fields(json.loads(text)))
            return trigger
        fields = row["trigger"] if text is None else text  # a driver that parsed the JSON
        try:
            key = tuple(sorted(fields.items()))
            trigger = self._cache.get(key)
        except TypeError:  # an unhashable value: let from_fields judge it, uncached
            return Trigger.from_fields(fields)
        return trigger or self._put(key, Trigger.from_fields(fields))

    def _put(self, key: Any, trigger: Trigger) -> Trigger:
        if len(self._cache) >= self.MAX:
            self._cache.clear()
        self._cache[key] = trigger
        return trigger

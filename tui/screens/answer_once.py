"""A screen that gives its answer once.

Over a slow link keys arrive in bursts: a second Esc or Enter that reaches a dialog before
it is gone would dismiss it again, running its callback twice and popping the screen below
it as well. Every screen that dismisses itself derives from ``AnswerOnce`` (a test checks),
so a repeated ``dismiss`` does nothing.
"""

from __future__ import annotations

from typing import TypeVar

from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen, Screen

ResultType = TypeVar("ResultType")


async def _nothing() -> None:
    return None


class AnswerOnce(Screen[ResultType]):
    """A full screen that dismisses itself at most once."""

    _answered: bool = False

    @property
    def answered(self) -> bool:
        return self._answered

    def dismiss(self, result: ResultType | None = None) -> AwaitComplete:
        if self._answered:
            return AwaitComplete(_nothing())
        self._answered = True
        return super().dismiss(result)


class Dialog(AnswerOnce[ResultType], ModalScreen[ResultType]):
    """A modal dialog that dismisses itself at most once."""

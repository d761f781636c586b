"""What the top-level screens share: the engine, live refresh from engine events, and
calling engine commands without blocking the UI.

A screen lists the event kinds it cares about; a burst of them causes one reload 0.2 s
after the first (a trailing throttle, so a steady stream still refreshes five times a
second, never more). A screen that is not on display only notes that it is stale and
reloads when it is shown again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from switchyard.engine.errors import StoreUnavailable, SwitchyardError
from textual import work
from textual.screen import Screen
from textual.timer import Timer

if TYPE_CHECKING:
    from switchyard.engine.api import Engine
    from switchyard.tui.app import SwitchyardApp

T = TypeVar("T")


class EngineScreen(Screen[None]):
    REFRESH_ON: ClassVar[frozenset[str]] = frozenset()
    DEBOUNCE: ClassVar[float] = 0.2

    def __init__(self) -> None:
        super().__init__()
        self._refresh_timer: Timer | None = None
        self._stale = False
        self._loading = False  # load_coalesced: a load is under way
        self._load_again = False  # ... and was asked for again meanwhile

    @property
    def sy_app(self) -> SwitchyardApp:
        return cast("SwitchyardApp", self.app)

    @property
    def engine(self) -> Engine:
        return self.sy_app.engine

    # ------------------------------------------------------------- refreshing
    def start_live(self) -> None:
        """Load now, then reload whenever one of ``REFRESH_ON`` arrives on the bus."""
        self._listen()
        self.reload()

    @work(group="events")
    async def _listen(self) -> None:
        async with self.engine.bus.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind in self.REFRESH_ON:
                    self.request_refresh()

    def request_refresh(self) -> None:
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(self.DEBOUNCE, self._refresh_due)

    def _refresh_due(self) -> None:
        self._refresh_timer = None
        if self in self.app.screen_stack:  # shown, perhaps under a modal
            self.reload()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.reload()

    def reload(self) -> None:
        """Fetch and show fresh data (subclasses: start an exclusive worker)."""

    def load_coalesced(self, load: Callable[[], Awaitable[None]]) -> None:
        """Run ``load`` in a worker; asked again while it runs, it runs once more right
        after, however often it was asked. Unlike an exclusive worker it never cancels a
        load mid-query (a slow query would otherwise never finish under a steady stream
        of events, and a read cancelled inside the driver can lose its connection)."""
        if self._loading:
            self._load_again = True
            return
        self._loading = True
        self._run_coalesced(load)

    @work(group="coalesced-load")
    async def _run_coalesced(self, load: Callable[[], Awaitable[None]]) -> None:
        try:
            while True:
                self._load_again = False
                await load()
                if not self._load_again:
                    return
        finally:
            self._loading = False
            self.sy_app.screen_loaded()

    # ----------------------------------------------------------------- commands
    @property
    def gone(self) -> bool:
        """The console is closing, or this screen left it: an answer that comes now has
        no widgets left to be drawn into (they are being removed)."""
        return not self.app.is_running or not self.is_attached

    async def call(self, operation: Awaitable[T], *, failed: str) -> T | None:
        """Await an engine command; a refusal or store error becomes a notification.
        None too when the answer comes after the screen is ``gone`` (the caller, a
        worker, then stops instead of drawing into removed widgets)."""
        try:
            result = await operation
        except SwitchyardError as exc:
            self.notify(exc.message, title=f"{failed}: {exc.field}", severity="error")
        except StoreUnavailable as exc:
            self.notify(str(exc), title=failed, severity="error")
        else:
            return None if self.gone else result
        return None

    async def attempt(self, operation: Awaitable[object], *, failed: str) -> bool:
        """Like ``call`` for commands without a result: True when it was done (and the
        screen is still there to say so)."""
        try:
            await operation
        except SwitchyardError as exc:
            self.notify(exc.message, title=f"{failed}: {exc.field}", severity="error")
        except StoreUnavailable as exc:
            self.notify(str(exc), title=failed, severity="error")
        else:
            return not self.gone
        return False

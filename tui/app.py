"""The Switchyard console: screens as modes, global keys, the keymap, the embedded engine.

``run_console(db)`` opens the engine. If a live ``switchyard serve`` node serves the store
this is a pure console (it runs nothing, and quitting touches nobody's work); otherwise it
embeds a node (``Runtime(mode="console")``) that runs work while the console is open.

The embedded node is imported and started only once the first screen has been painted
with its data (``screen_loaded``, or FIRST_LOAD_WAIT after Textual's ``Ready``): its
import (the process host, the actions, Jinja, httpx), recovery, scheduler catch-up and
first dispatch rounds would otherwise hold up the first frame (bench/console_start.py).
If it cannot start, the console ends and the error is raised as before. Screens other
than the first are imported when first shown (``_lazy``). Tests build
``SwitchyardApp(engine)`` around an engine they opened themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from switchyard.engine import paths
from switchyard.engine.api import Engine
from switchyard.engine.errors import StoreUnavailable
from switchyard.engine.kernel import events as ev
from switchyard.engine.node.sessions import ConsoleSession
from switchyard.tui import clipboard, settings
from switchyard.tui.commands import SwitchyardCommands
from switchyard.tui.display import plural
from switchyard.tui.idle_gc import IdleCollector
from switchyard.tui.keymap import binding_ids, default_keymap_path, load_keymap
from switchyard.tui.screens.schedules import SchedulesScreen
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

if TYPE_CHECKING:
    from switchyard.engine.node.runtime import Runtime


def _lazy(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A mode's screen, its module imported when the mode is first shown (the first
    screen's start does not pay for the others)."""

    def make() -> Screen[Any]:
        screen: Callable[[], Screen[Any]] = getattr(import_module(module), name)
        return screen()

    return make


def _holders() -> tuple[type, ...]:
    """Every class with binding ids (for the keymap file): imports every screen."""
    from switchyard.tui.screens.admin import AdminScreen
    from switchyard.tui.screens.admin_form import AdminForm
    from switchyard.tui.screens.bulk import BulkScreen
    from switchyard.tui.screens.confirm import ConfirmScreen
    from switchyard.tui.screens.event_detail import EventDetailScreen
    from switchyard.tui.screens.events import EventsScreen
    from switchyard.tui.screens.help import HelpScreen
    from switchyard.tui.screens.instance_detail import InstanceDetailScreen
    from switchyard.tui.screens.monitor import MonitorScreen
    from switchyard.tui.screens.nodes import NodesScreen
    from switchyard.tui.screens.prompt import PromptScreen
    from switchyard.tui.screens.queue import PagedTable, QueueScreen
    from switchyard.tui.screens.saved_filters import SavedFiltersScreen
    from switchyard.tui.screens.schedule_form import ScheduleForm
    from switchyard.tui.screens.timers import TimersScreen
    from switchyard.tui.screens.workitem_form import WorkItemForm
    from switchyard.tui.screens.workitems import WorkItemsScreen
    from switchyard.tui.widgets.keyed_table import KeyedTable
    from switchyard.tui.widgets.log_pane import TailLog
    from switchyard.tui.widgets.virtual_table import PagedVirtualTable, VirtualTable

    return (
        SwitchyardApp,
        SchedulesScreen,
        QueueScreen,
        MonitorScreen,
        InstanceDetailScreen,
        BulkScreen,
        SavedFiltersScreen,
        WorkItemsScreen,
        WorkItemForm,
        PromptScreen,
        AdminScreen,
        AdminForm,
        EventsScreen,
        EventDetailScreen,
        NodesScreen,
        TimersScreen,
        ScheduleForm,
        ConfirmScreen,
        HelpScreen,
        KeyedTable,
        PagedTable,
        VirtualTable,
        PagedVirtualTable,
        TailLog,
    )


QUIT_GRACE = 5.0
FIRST_LOAD_WAIT = 0.5  # seconds after Ready the embedded node waits for the first screen


class SwitchyardApp(App[None]):
    TITLE = "Switchyard"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    MODES = {
        "schedules": SchedulesScreen,
        "queue": _lazy("switchyard.tui.screens.queue", "QueueScreen"),
        "monitor": _lazy("switchyard.tui.screens.monitor", "MonitorScreen"),
        "workitems": _lazy("switchyard.tui.screens.workitems", "WorkItemsScreen"),
        "admin": _lazy("switchyard.tui.screens.admin", "AdminScreen"),
        "events": _lazy("switchyard.tui.screens.events", "EventsScreen"),
        "nodes": _lazy("switchyard.tui.screens.nodes", "NodesScreen"),
    }
    DEFAULT_MODE = "schedules"
    COMMANDS = App.COMMANDS | {SwitchyardCommands}
    INHERIT_BINDINGS = False  # App's own ctrl+q has no id; ours below do
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('schedules')", "Schedules", show=False, id="screen_schedules"),
        Binding("2", "switch_mode('queue')", "Queue", show=False, id="screen_queue"),
        Binding("3", "switch_mode('monitor')", "Monitor", show=False, id="screen_monitor"),
        Binding("4", "switch_mode('workitems')", "Work Items", show=False, id="screen_workitems"),
        Binding("5", "switch_mode('admin')", "Admin", show=False, id="screen_admin"),
        Binding("6", "switch_mode('events')", "Events", show=False, id="screen_events"),
        Binding("7", "switch_mode('nodes')", "Nodes", show=False, id="screen_nodes"),
        Binding("y", "copy", "Copy", show=False, id="copy"),
        Binding("ctrl+t", "timers", "Timers", show=False, id="timers"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, priority=True, id="palette"),
        Binding("escape", "back", "Back", show=False, id="back"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit_anywhere"),
        Binding("ctrl+c", "help_quit", show=False, system=True, id="ctrl_c_hint"),
    ]

    store_problem: reactive[str | None] = reactive(None)

    def __init__(
        self,
        engine: Engine,
        runtime: Runtime | None = None,
        *,
        serve_node: str | None = None,
        embedded: bool = False,
        keymap_path: Path | None = None,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.runtime = runtime
        self.session: ConsoleSession | None = None  # set when attached to a serve node
        self.serve_node = serve_node
        self.embedded = embedded or runtime is not None  # runs work here (now or soon)
        self.first_frame = asyncio.Event()  # set once the first screen has been painted
        self.keymap_path = keymap_path or default_keymap_path()
        self.settings_path = settings_path or settings.default_settings_path()
        self._theme_loaded = False
        self._quitting = False
        self._colours: tuple[str, dict[str, str]] = ("", {})
        self._idle_gc = IdleCollector()
        self.sub_title = self._mode_text()

    def _mode_text(self) -> str:
        if self.embedded:
            return "embedded engine"
        if self.serve_node:
            return f"console — work runs on node {self.serve_node}"
        return "console — no engine runs work here"

    @property
    def colours(self) -> dict[str, str]:
        """Text colours of the theme by name (success, error, ...), for Rich text."""
        if self._colours[0] != self.theme:
            found = self.get_css_variables()
            names = ("success", "error", "warning", "accent", "secondary", "primary")
            self._colours = (
                self.theme,
                {n: found[f"text-{n}"] for n in names if found.get(f"text-{n}", "")[:1] == "#"},
            )
        return self._colours[1]

    # ------------------------------------------------------------------ start
    def on_mount(self) -> None:
        self._load_theme()
        self._apply_keymap()
        self._watch_engine()
        self._idle_gc.start(self)  # full collections while idle, not during a keypress

    def on_ready(self) -> None:
        # the DOM is ready; the first frame follows. If no screen reports a first load
        # (screen_loaded) soon, the embedded node starts anyway
        self.set_timer(FIRST_LOAD_WAIT, self.first_frame.set, name="first-frame")

    def screen_loaded(self) -> None:
        """A screen showed its first data: once it is painted, the embedded node starts
        (run_console_async), so its start does not compete with the first screen."""
        if not self.first_frame.is_set():
            self.call_after_refresh(self.first_frame.set)

    def on_unmount(self) -> None:
        self._idle_gc.stop()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._idle_gc.key_pressed()
        await super().on_event(event)

    def _load_theme(self) -> None:
        """Register the high-contrast theme and bring back the theme chosen last."""
        self.register_theme(settings.HIGH_CONTRAST)
        chosen = settings.load_theme(self.settings_path)
        if chosen and chosen in self.available_themes:
            self.theme = chosen
        self._theme_loaded = True

    def watch_theme(self, theme: str) -> None:
        """A theme chosen (ctrl+p, "Theme") is kept in the settings file."""
        if not self._theme_loaded or settings.load_theme(self.settings_path) == theme:
            return
        try:
            settings.save_theme(self.settings_path, theme)
        except OSError as exc:
            self.notify(f"cannot keep the theme: {exc}", severity="warning", markup=False)

    def _apply_keymap(self) -> None:
        keymap = load_keymap(self.keymap_path, lambda: binding_ids(_holders()))
        if keymap.keys:
            self.set_keymap(keymap.keys)
        if keymap.problems:
            self.notify(
                "\n".join(keymap.problems),
                title=f"keymap {self.keymap_path}",
                severity="error",
                timeout=15,
                markup=False,
            )

    @work(group="engine-events")
    async def _watch_engine(self) -> None:
        """Store health (a banner on every screen) and which node runs the work."""
        async with self.engine.bus.subscribe() as queue:
            while True:
                event = await queue.get()
                if event.kind == ev.FEED_STATUS:
                    self._feed_status(bool(event.data.get("ok")), event.data.get("error"))
                elif event.kind == ev.NODE_CHANGED and not self.embedded:
                    await self._check_serve_node()

    def _feed_status(self, ok: bool, error: Any) -> None:
        if ok and self.store_problem is not None:
            self.store_problem = None
            self.notify("store reachable again; live updates resumed", timeout=4)
        elif not ok:
            self.store_problem = str(error or "unknown error")
            self.notify(self.store_problem, title="store unavailable", severity="error")

    async def _check_serve_node(self) -> None:
        try:
            node = await self.engine.live_serve_node()
        except StoreUnavailable:
            return
        self.serve_node = node.id if node else None
        self.sub_title = (
            self._mode_text() if node else "console — no live node: nothing runs work now"
        )

    # ---------------------------------------------------------------- actions
    def action_help(self) -> None:
        from switchyard.tui.screens.help import HelpScreen, bindings_of

        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        self.push_screen(HelpScreen(screen.title or type(screen).__name__, bindings_of(screen)))

    def action_copy(self) -> None:
        """y: copy the selection, the highlighted id or the log line (OSC 52)."""
        clipboard.copy(self)

    def action_timers(self) -> None:
        """ctrl+t: the timers over the current screen (not over a dialog)."""
        from switchyard.tui.screens.timers import TimersScreen

        if not isinstance(self.screen, TimersScreen | ModalScreen):
            self.push_screen(TimersScreen())

    def action_back(self) -> None:  # type: ignore[override]  # Textual awaits it if async; ours is not
        """Esc: close what is on top, or step back inside the screen."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
            return
        go_back = getattr(self.screen, "go_back", None)
        if callable(go_back):
            go_back()

    async def action_quit(self) -> None:
        if self._quitting:
            return
        running = 0
        if self.runtime and self.runtime.started:  # a continuous schedule's run is not asked
            # about: it stops at once and starts again with the next console (runtime.py)
            continuous = await self.runtime.continuous_runs()
            running = len(set(self.runtime.running) - continuous) + len(self.runtime.processes)
        if not running:
            self._quitting = True
            self.exit()
            return
        self._confirm_quit(running)

    @work(group="quit")
    async def _confirm_quit(self, running: int) -> None:
        from switchyard.tui.screens.confirm import ConfirmScreen

        self._quitting = True
        try:
            confirm = ConfirmScreen(
                "Quit?",
                f"{plural(running, 'run')} in progress will be interrupted; use "
                "`switchyard serve` to keep work running when consoles close",
                yes="Quit",
                no="Stay",
            )
            if not await self.push_screen_wait(confirm):
                return
            self.notify(f"stopping: running commands get {QUIT_GRACE:g}s to finish", timeout=10)
            if self.runtime is not None:
                await self.runtime.stop(grace=QUIT_GRACE)
            self.exit()
        finally:
            self._quitting = False

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title != "Keys":  # `?` shows ours
                yield command

    # ---------------------------------------------- helpers for the palette
    async def schedules_screen(self) -> SchedulesScreen:
        await self.switch_mode("schedules")
        while len(self.screen_stack) > 1:
            self.pop_screen()
        screen = self.screen_stack[0]
        assert isinstance(screen, SchedulesScreen)
        return screen


async def run_console_async(db: str | None, as_user: str | None = None, **options: Any) -> None:
    """run_console on a running event loop (``options``: Engine.open's)."""
    engine = await Engine.open(db, as_user=as_user, **options)
    runtime: Runtime | None = None
    session: ConsoleSession | None = None
    logger = logging.getLogger("switchyard")
    handler, propagate = _log_to_file(engine.data_dir / "console.log"), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # the terminal belongs to the console
    starter: asyncio.Task[None] | None = None
    try:
        node = await engine.live_serve_node()
        if node is not None:  # attached: a session node, so work items in progress here
            session = ConsoleSession(engine)  # survive a crash
            await session.start()
        await engine.start_feed()
        app = SwitchyardApp(engine, serve_node=node.id if node else None, embedded=node is None)
        app.session = session
        if node is None:
            starter = asyncio.create_task(_embed_node(app), name="switchyard-embed-node")
        await app.run_async()
    finally:
        failed: BaseException | None = None
        if starter is not None:
            if not app.first_frame.is_set():
                starter.cancel()  # never painted: nothing was started
            # a start under way finishes (and is stopped below); its error is raised last
            (outcome,) = await asyncio.gather(starter, return_exceptions=True)
            if isinstance(outcome, BaseException) and not starter.cancelled():
                failed = outcome
            runtime = app.runtime
        if runtime is not None and runtime.started:
            await runtime.stop(grace=QUIT_GRACE)
        if session is not None:
            await session.stop()
        await engine.close()
        logger.removeHandler(handler)
        logger.propagate = propagate
        handler.close()
    if failed is not None:
        raise failed


async def _embed_node(app: SwitchyardApp) -> None:
    """Start the embedded node once the first screen is on display (its import and its
    first rounds of work would otherwise delay the first frame). If it cannot start, the
    console ends and run_console_async raises the error."""
    await app.first_frame.wait()
    from switchyard.engine.node.runtime import Runtime

    app.runtime = Runtime(app.engine, mode="console")
    try:
        await app.runtime.start()
    except BaseException:
        app.exit()
        raise


def _log_to_file(path: Path) -> logging.Handler:
    """The engine's warnings, into ``path`` (or nowhere if it cannot be written)."""
    handler: logging.Handler
    try:
        paths.open_private(path, "a").close()  # 0600 in a 0700 folder, whatever the umask
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def run_console(db: str | None, as_user: str | None = None, **options: Any) -> None:
    """Open the console on store ``db`` (None: SWITCHYARD_DB or the default store), acting
    as ``as_user`` if given (admins only); ``options``: Engine.open's."""
    asyncio.run(run_console_async(db, as_user, **options))

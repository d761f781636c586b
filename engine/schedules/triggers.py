"""Triggers: when a schedule fires. Pure time arithmetic (no database, no UI).

Cron is read on local wall-clock time in the schedule's zone, and every matching wall time
fires exactly once per day:

* a match that does not exist (spring-forward gap) fires once at the first instant after the
  gap; several matches in one gap coalesce into that single fire;
* a match that occurs twice (autumn fall-back) fires once, at its first occurrence (fold=0).

Interval ("every") triggers are absolute time: ``anchor + k * every`` for k >= 0, where a
missing anchor means the Unix epoch (so "every 5m" fires on the 5-minute marks in UTC).
Durations accept whole-second amounts only; decimals per unit are fine ("1.5h" = 5400s).
All instants returned are aware UTC datetimes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchyard.engine.schedules.cron_fields import FORMS as _CRON_FORMS
from switchyard.engine.schedules.cron_fields import cron_problem

if TYPE_CHECKING:
    from croniter import croniter


Kind = Literal["cron", "every", "at", "on_demand", "continuous"]
KINDS: tuple[str, ...] = get_args(Kind)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DUR_FORMS = (
    "use a positive amount with a unit (s, m, h, d, w), like 30s, 5m, 2h, 1d, 1h30m or 1.5h, "
    "or plain seconds like 90"
)
MAX_DURATION = timedelta(days=36_600)  # 100 years: longer is a typo, and overflows dates
_DUR_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_KIND_FLAGS = "give exactly one of --cron, --every, --at, --on-demand, --continuous"


class TriggerError(ValueError):
    """A bad trigger setting; ``field`` names the setting, ``message`` says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.field, self.message))


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """``"30s"``, ``"5m"``, ``"1h30m"``, ``"1.5h"``, ``"90"`` (seconds) -> timedelta (>= 1s)."""
    raw = str(text)
    s = raw.strip().lower().replace(" ", "")
    if s.startswith("-"):
        raise TriggerError(field, f"'{raw}' is negative; {_DUR_FORMS}")
    try:
        if re.fullmatch(r"\d+(?:\.\d+)?", s):
            total = Decimal(s)
        elif s and _DUR_PART.sub("", s) == "":
            parts = _DUR_PART.findall(s)
            units = [unit for _, unit in parts]
            if len(set(units)) != len(units):
                raise TriggerError(field, f"'{raw}' repeats a unit; {_DUR_FORMS}")
            total = sum((Decimal(n) * _UNITS[u] for n, u in parts), Decimal(0))
        else:
            raise TriggerError(field, f"'{raw}' is not a duration; {_DUR_FORMS}")
    except InvalidOperation as exc:
        raise TriggerError(field, f"'{raw}' is not a duration; {_DUR_FORMS}") from exc
    if total <= 0:
        raise TriggerError(field, f"'{raw}' is zero; {_DUR_FORMS}")
    if total > int(MAX_DURATION.total_seconds()):
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise TriggerError(field, f"'{shown}' is too long: at most 100 years (36600d)")
    if total != total.to_integral_value():
        raise TriggerError(field, f"'{raw}' is not a whole number of seconds; {_DUR_FORMS}")
    return timedelta(seconds=int(total))


def format_duration(td: timedelta) -> str:
    """5400s -> ``"1h30m"``, 30s -> ``"30s"``, 0 -> ``"0s"``; the inverse of parse_duration."""
    micros = (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    secs, frac = divmod(micros, 1_000_000)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, secs = divmod(secs, size)
        if n:
            out.append(f"{n}{unit}")
    if frac:
        out.append(f"{secs}.{frac:06d}".rstrip("0") + "s")
    elif secs or not out:
        out.append(f"{secs}s")
    return sign + "".join(out)


def parse_window(text: str, field: str = "window") -> tuple[time, time]:
    """``"HH:MM-HH:MM"`` -> (start, end); may cross midnight; start == end is an error."""
    m = _WINDOW.fullmatch(str(text).strip())
    forms = "use HH:MM-HH:MM, e.g. 08:00-18:00 or 22:00-06:00"
    if not m:
        raise TriggerError(field, f"'{text}' is not a window; {forms}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise TriggerError(field, f"'{text}' has a time that is not a time of day; {forms}")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise TriggerError(field, f"'{text}' starts and ends at the same time; {forms}")
    return start, end


def parse_zone(name: str, field: str = "tz") -> ZoneInfo:
    """An IANA zone name -> ZoneInfo, or TriggerError(field, "unknown time zone '...'")."""
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise TriggerError(field, f"unknown time zone '{name}'") from exc


def _utc(dt: datetime, field: str = "after") -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TriggerError(field, f"{dt.isoformat()} has no time zone; pass an aware datetime")
    return dt.astimezone(UTC)


def _offset(inst: datetime, zone: ZoneInfo) -> timedelta:
    return zone.utcoffset(inst.astimezone(zone)) or timedelta(0)


@lru_cache(maxsize=4096)
def _gap_end(naive: datetime, zone: ZoneInfo) -> datetime:
    """For a wall time inside a gap: the transition instant (first instant after the gap)."""
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the later offset
    hi = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)  # read with the earlier offset
    before = _offset(lo, zone)
    while hi - lo > timedelta(microseconds=1):  # bisect to the exact transition instant
        mid = lo + (hi - lo) / 2
        if _offset(mid, zone) == before:
            lo = mid
        else:
            hi = mid
    return hi


def _resolve(naive: datetime, zone: ZoneInfo) -> datetime:
    """Wall time -> instant (UTC): gap -> transition instant, repeated -> first occurrence."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None, fold=0) != naive:
        return _gap_end(naive, zone)
    return first


def _is_ambiguous(naive: datetime, zone: ZoneInfo) -> bool:
    a = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return a != naive.replace(tzinfo=zone, fold=1).astimezone(UTC)


@lru_cache(maxsize=1024)
def _cron_template(cron: str) -> croniter:
    """Parse once per expression; callers copy it and set their own start."""
    from croniter import croniter  # here: commands that compute no fire need not import it
    from croniter.croniter import CroniterError

    problem = cron_problem(cron)  # our words, naming the field and its range
    if problem is not None:
        raise TriggerError("cron", problem)
    try:
        it = croniter(cron, datetime(2000, 1, 1), ret_type=datetime)
        copy.copy(it).get_next(datetime)
    except CroniterError as exc:
        if "failed to find" in str(exc):
            raise TriggerError("cron", f"'{cron}' never matches a real date") from exc
        raise TriggerError(
            "cron", f"'{cron}' is not a valid cron expression; {_CRON_FORMS}"
        ) from exc
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise TriggerError(
            "cron", f"'{cron}' is not a valid cron expression; {_CRON_FORMS}"
        ) from exc
    return it


def _walk(cron: str, zone: ZoneInfo, start: datetime) -> Iterator[datetime]:
    """Naive wall-clock matches strictly after the naive ``start``."""
    from croniter.croniter import CroniterError

    it = copy.copy(_cron_template(cron))
    it.set_current(start.replace(microsecond=0, fold=0), force=True)
    while True:
        try:
            yield it.get_next(datetime)
        except (CroniterError, OverflowError, ValueError):
            return


def _cron_fires(cron: str, zone: ZoneInfo, after_utc: datetime) -> Iterator[datetime]:
    """Distinct fire instants (UTC) strictly after ``after_utc``, in order."""
    last = after_utc
    for naive in _walk(cron, zone, after_utc.astimezone(zone).replace(tzinfo=None)):
        inst = _resolve(naive, zone)
        if inst > last:  # skips the past, the 2nd pass of a repeated hour, coalesced gap times
            last = inst
            yield inst


@lru_cache(maxsize=16384)
def _cron_next(cron: str, tz: str, after_utc: datetime) -> datetime | None:
    return next(_cron_fires(cron, parse_zone(tz), after_utc), None)


def _parse_instant(value: str | datetime, zone: ZoneInfo, field: str) -> datetime:
    """ISO string or datetime -> aware UTC; naive values are wall time in ``zone``."""
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError as exc:
            msg = f"'{value}' is not an ISO date-time; use e.g. 2026-12-01T09:00"
            raise TriggerError(field, msg) from exc
    if dt.tzinfo is None:
        return _resolve(dt, zone)
    return dt.astimezone(UTC)


def instant_in_zone(value: datetime, tz: str) -> datetime:
    """``value`` as aware UTC; a naive one is wall time in ``tz`` (as ``--at`` reads it)."""
    return _parse_instant(value, parse_zone(tz), "from")


def _hm(t: time | datetime) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def _fmt_window(window: tuple[time, time]) -> str:
    return f"{_hm(window[0])}-{_hm(window[1])}"


def _fmt_offset(off: timedelta) -> str:
    mins = int(off.total_seconds()) // 60
    sign = "-" if mins < 0 else "+"
    return f"{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


@dataclass(frozen=True)
class Trigger:
    kind: Kind
    cron: str | None = None
    tz: str = "UTC"
    every: timedelta | None = None
    at: datetime | None = None
    anchor: datetime | None = None
    window: tuple[time, time] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TriggerError("kind", f"unknown trigger kind '{self.kind}'; one of {KINDS}")
        parse_zone(self.tz)
        if (self.cron is not None) != (self.kind == "cron"):
            raise TriggerError("cron", "a cron expression goes with (only) a cron trigger")
        if self.cron is not None:
            _cron_template(self.cron)
        if (self.every is not None) != (self.kind == "every"):
            raise TriggerError("every", "an interval goes with (only) an every trigger")
        if self.every is not None and (
            self.every.total_seconds() < 1 or self.every % timedelta(seconds=1)
        ):
            msg = f"'{format_duration(self.every)}' must be a whole number of seconds, >= 1s"
            raise TriggerError("every", msg)
        if (self.at is not None) != (self.kind == "at"):
            raise TriggerError("at", "a time goes with (only) a once-at trigger")
        if self.at is not None:
            object.__setattr__(self, "at", _utc(self.at, "at"))
        if self.anchor is not None:
            if self.kind != "every":
                raise TriggerError("anchor", "an anchor only applies to --every")
            object.__setattr__(self, "anchor", _utc(self.anchor, "anchor"))
        if self.window is not None:
            if self.kind != "continuous":
                raise TriggerError("window", "a window only applies to --continuous")
            start, end = self.window
            if start.tzinfo is not None or end.tzinfo is not None or start == end:
                raise TriggerError("window", "needs two different wall-clock times")
            object.__setattr__(self, "window", (start, end))

    @classmethod
    def build(
        cls,
        *,
        cron: str | None = None,
        tz: str | None = "UTC",
        every: str | timedelta | None = None,
        at: str | datetime | None = None,
        on_demand: bool = False,
        continuous: bool = False,
        window: str | tuple[time, time] | None = None,
        anchor: str | datetime | None = None,
    ) -> Trigger:
        """Build from CLI-style values; raises TriggerError naming the bad setting."""
        given = [cron is not None, every is not None, at is not None, on_demand, continuous]
        if sum(bool(g) for g in given) != 1:
            raise TriggerError("trigger", _KIND_FLAGS)
        tz = (tz or "UTC").strip()
        zone = parse_zone(tz)
        if window is not None and not continuous:
            raise TriggerError("window", "a window only applies to --continuous")
        if anchor is not None and every is None:
            raise TriggerError("anchor", "an anchor only applies to --every")
        if cron is not None:
            return cls(kind="cron", cron=" ".join(cron.split()), tz=tz)
        if every is not None:
            td = every if isinstance(every, timedelta) else parse_duration(every, "every")
            anc = None if anchor is None else _parse_instant(anchor, zone, "anchor")
            return cls(kind="every", every=td, tz=tz, anchor=anc)
        if at is not None:
            return cls(kind="at", at=_parse_instant(at, zone, "at"), tz=tz)
        if on_demand:
            return cls(kind="on_demand", tz=tz)
        win = parse_window(window) if isinstance(window, str) else window
        return cls(kind="continuous", tz=tz, window=win)

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after ``after``, as aware UTC; None if there is none."""
        after_utc = _utc(after)
        if self.kind == "cron":
            assert self.cron is not None
            return _cron_next(self.cron, self.tz, after_utc)
        if self.kind == "every":
            assert self.every is not None
            anchor = self.anchor or _EPOCH
            if after_utc < anchor:
                return anchor
            return anchor + ((after_utc - anchor) // self.every + 1) * self.every
        if self.kind == "at":
            assert self.at is not None
            return self.at if self.at > after_utc else None
        return None

    def fires(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fires strictly after ``after`` (fewer if the trigger runs out)."""
        if count <= 0:
            return []
        if self.kind == "cron":
            assert self.cron is not None
            gen = _cron_fires(self.cron, parse_zone(self.tz), _utc(after))
            return list(islice(gen, count))
        out: list[datetime] = []
        nxt = self.next_fire(after)
        while nxt is not None and len(out) < count:
            out.append(nxt)
            nxt = self.next_fire(nxt)
        return out

    def describe(self) -> str:
        """A short phrase for a table column."""
        zone = parse_zone(self.tz)
        if self.kind == "cron":
            return f"cron {self.cron} {self.tz}"
        if self.kind == "every":
            assert self.every is not None
            text = f"every {format_duration(self.every)}"
            if self.anchor is not None:
                local = self.anchor.astimezone(zone)
                text += f" from {local.strftime('%Y-%m-%d')} {_hm(local)} {self.tz}"
            return text
        if self.kind == "at":
            assert self.at is not None
            local = self.at.astimezone(zone)
            return f"once at {local.strftime('%Y-%m-%d')} {_hm(local)} {self.tz}"
        if self.kind == "on_demand":
            return "on demand"
        text = "continuous"
        if self.window is not None:
            text += f" {_fmt_window(self.window)}"
        return text if self.tz == "UTC" else f"{text} {self.tz}"

    def in_window(self, at: datetime) -> bool:
        """True when there is no window or ``at`` (wall clock in tz) falls inside it."""
        if self.window is None:
            return True
        now = _utc(at, "at").astimezone(parse_zone(self.tz)).time()
        start, end = self.window
        if start < end:
            return start <= now < end
        return now >= start or now < end

    def next_window_open(self, after: datetime) -> datetime | None:
        """The next instant (UTC) strictly after ``after`` at which the window opens."""
        if self.kind != "continuous" or self.window is None:
            return None
        zone = parse_zone(self.tz)
        after_utc = _utc(after)
        day: date = after_utc.astimezone(zone).date()
        for shift in range(-1, 3):
            inst = _resolve(datetime.combine(day + timedelta(days=shift), self.window[0]), zone)
            if inst > after_utc:
                return inst
        return None

    def to_fields(self) -> dict[str, Any]:
        """JSON-able dict (strings/numbers); ``every`` is whole seconds, instants are ISO UTC."""
        d: dict[str, Any] = {"kind": self.kind, "tz": self.tz}
        if self.cron is not None:
            d["cron"] = self.cron
        if self.every is not None:
            d["every"] = int(self.every.total_seconds())
        if self.at is not None:
            d["at"] = self.at.isoformat()
        if self.anchor is not None:
            d["anchor"] = self.anchor.isoformat()
        if self.window is not None:
            d["window"] = _fmt_window(self.window)
        return d

    @classmethod
    def from_fields(cls, d: dict[str, Any]) -> Trigger:
        """Inverse of to_fields; raises TriggerError on a malformed dict."""
        kind = d.get("kind")
        if kind not in KINDS:
            raise TriggerError("kind", f"unknown trigger kind '{kind}'; one of {KINDS}")
        need = {"cron": "cron", "every": "every", "at": "at"}.get(kind)
        if need is not None and d.get(need) is None:
            raise TriggerError(need, f"missing for a {kind} trigger")
        every: Any = d.get("every")
        if isinstance(every, int | float) and not isinstance(every, bool):
            every = timedelta(seconds=every)
        return cls.build(
            cron=d.get("cron"),
            tz=d.get("tz") or "UTC",
            every=every,
            at=d.get("at"),
            on_demand=kind == "on_demand",
            continuous=kind == "continuous",
            window=d.get("window"),
            anchor=d.get("anchor"),
        )


def dst_note(fire: datetime, tz: str, cron: str | None = None) -> str | None:
    """A short note when a DST transition shapes this fire (for schedule previews), else None.

    Checked in order: cron times swallowed by a gap and fired at ``fire``; a wall time that
    occurs twice; a UTC offset different from the one at the same wall time a day earlier.
    """
    zone = parse_zone(tz)
    inst = _utc(fire, "fire")
    local = inst.astimezone(zone)
    off_now, off_before = _offset(inst, zone), _offset(inst - timedelta(microseconds=1), zone)
    if cron is not None and off_now > off_before:  # ``fire`` is the end of a gap
        gap_end = local.replace(tzinfo=None)
        gap_start = gap_end - (off_now - off_before)
        first = next(_walk(cron, zone, gap_start - timedelta(seconds=1)), None)
        if first is not None and first < gap_end:
            last = first
            for naive in _walk(cron, zone, first):
                if naive >= gap_end:
                    break
                last = naive
            times = _hm(first) if last == first else f"{_hm(first)} to {_hm(last)}"
            verb = "does" if last == first else "do"
            once = "" if last == first else " once"
            return f"{times} {verb} not exist (DST gap): fired{once} at {_hm(local)}"
    naive = local.replace(tzinfo=None, fold=0)
    if _is_ambiguous(naive, zone):
        which = "first" if local.fold == 0 else "second"
        return f"{_hm(local)} occurs twice: fired at the {which}"
    off_prev = _offset(_resolve(naive - timedelta(days=1), zone), zone)  # same wall time
    if off_now != off_prev:
        return f"UTC offset {_fmt_offset(off_now)} (was {_fmt_offset(off_prev)})"
    return None

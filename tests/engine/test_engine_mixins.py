"""Engine is assembled from mixins (people, processes, work items, monitor, ...). Two
mixins defining the same method name would silently shadow one another (it happened:
two private ``_where`` helpers); this test fails when it happens again."""

from __future__ import annotations

from switchyard.engine.api import Engine


def _bases_of(name: str | None) -> tuple[type, ...]:
    cls = next((c for c in Engine.__mro__ if c.__name__ == name), None)
    return cls.__mro__[1:] if cls is not None else ()


def _defined_by_a_base(cls: type, name: str) -> bool:
    return any(name in vars(base) for base in cls.__mro__[1:])


def test_no_two_engine_mixins_define_the_same_name() -> None:
    """@guarded puts a checking wrapper of every operation on Engine itself: those do not
    count as Engine's own definition, so a mixin's stub shadowing another's real method
    (found once: ``ProcessApi.instance`` raising NotImplementedError) is caught."""
    seen: dict[str, str] = {}
    clashes = []
    for cls in Engine.__mro__[1:]:
        if cls is object:
            continue
        for name, value in vars(cls).items():
            own = vars(Engine).get(name)
            if name.startswith("__") or not callable(value):
                continue
            if own is not None and not getattr(own, "__switchyard_guarded__", False):
                continue  # Engine's own definition wins (mixins declare e.g. tx() for typing)
            if cls in _bases_of(seen.get(name)) or _defined_by_a_base(cls, name):
                continue  # an override of a base mixin's method, not a clash
            if name in seen and seen[name] != cls.__name__:
                clashes.append(f"{name}: {seen[name]} and {cls.__name__}")
            seen.setdefault(name, cls.__name__)
    assert clashes == []

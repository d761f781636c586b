"""Engine is assembled from mixins (people, processes, work items, monitor, ...). Two
mixins defining the same method name would silently shadow one another (it happened:
two private ``_where`` helpers); this test fails when it happens again."""

from __future__ import annotations

from switchyard.engine.api import Engine


def test_no_two_engine_mixins_define_the_same_name() -> None:
    seen: dict[str, str] = {}
    clashes = []
    for cls in Engine.__mro__[1:]:
        if cls is object:
            continue
        for name, value in vars(cls).items():
            if name.startswith("__") or not callable(value) or name in vars(Engine):
                continue  # Engine's own definition wins (mixins declare e.g. tx() for typing)
            if name in seen and seen[name] != cls.__name__:
                clashes.append(f"{name}: {seen[name]} and {cls.__name__}")
            seen.setdefault(name, cls.__name__)
    assert clashes == []

"""The collector's youngest generation while a node runs (engine/node/heap.py)."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.node import heap
from switchyard.engine.node.runtime import Runtime


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


async def test_a_running_node_collects_young_objects_less_often_and_puts_it_back(
    engine: Engine, runtime: Callable[..., Awaitable[Runtime]]
) -> None:
    rt = await runtime(engine)
    assert gc.get_threshold() == (heap.YOUNG, 10, 10)
    await rt.stop(grace=1)
    assert gc.get_threshold() == (700, 10, 10)


def test_leave_keeps_what_someone_else_set_meanwhile() -> None:
    young = heap.YoungGeneration()
    young.enter()
    assert gc.get_threshold() == (heap.YOUNG, 10, 10)
    gc.set_threshold(500, 10, 1000)  # e.g. the console's idle collector, on its own terms
    young.leave()
    assert gc.get_threshold() == (500, 10, 1000)
    gc.set_threshold(heap.YOUNG + 1, 10, 1000)  # already larger: nothing to do, nothing to undo
    young.enter()
    young.leave()
    assert gc.get_threshold() == (heap.YOUNG + 1, 10, 1000)


def test_collection_switched_off_stays_off() -> None:
    gc.set_threshold(0, 10, 10)
    young = heap.YoungGeneration()
    young.enter()
    assert gc.get_threshold() == (0, 10, 10)
    young.leave()
    assert gc.get_threshold() == (0, 10, 10)

"""The monitor's total (the console's and the CLI's "1-100 of N") and the cap check, for a
first page and a page at an offset: the page is read alone, then the matches past its
last row are counted (engine/monitor/api.py ``_counted_past``), so the count tests only
the candidates the page did not reach. The total stays exact, rights apply to the count
as to the rows, the cap check is unchanged, and both statements read one snapshot (a
change between them is not seen). Both backends."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from switchyard.engine.api import Engine
from switchyard.engine.monitor.api import FilterTooBroad
from switchyard.engine.monitor.filters import MonitorFilter
from switchyard.store.queries import monitor as mon_q

OpenEngine = Callable[..., Awaitable[Engine]]

DEFINITION = """
process: {name}
variables:
  amount: {{type: decimal, required: true}}
start: s
states:
  s:
    actions:
      - wait: {{for: 1h}}
"""
BIG = MonitorFilter(variables=["amount > 10"])  # no process named: a rights clause for mona


async def setup(open_engine: OpenEngine, tmp_path: Path, claims: int) -> tuple[Engine, Engine]:
    """root, and mona (monitor licence, view right on claims only); ``claims`` claims of
    amount 100 and one of amount 1, and 5 "other" instances of amount 100 that mona may
    not view (no runtime: the instances stay as started, their variables indexed)."""
    root = await open_engine()
    for name in ("claims", "other"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(DEFINITION.format(name=name)).lstrip(), encoding="utf-8")
        await root.publish([path])
    await root.start_many("claims", [{"amount": "100"}] * claims + [{"amount": "1"}])
    await root.start_many("other", [{"amount": "100"}] * 5)
    await root.add_user("mona", licence="monitor")
    await root.grant("claims", "mona", view=True)
    return root, await open_engine(user="mona")


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL ``engine``'s reads run meanwhile that test a variable (page and count)."""
    seen: list[tuple[str, Any]] = []
    sync = engine.store._reader.sync_engine

    def record(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        if "instance_vars" in sql:
            seen.append((sql, params))

    event.listen(sync, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync, "before_cursor_execute", record)


async def test_a_full_page_counts_only_past_its_last_row(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """Fails on a page whose count is of every match (in the page's statement or not)."""
    root, _ = await setup(open_engine, tmp_path, claims=7)
    await root.monitor(BIG, limit=5)  # (its identity read again after the grant: the page twice)
    with statements(root) as seen:
        page = await root.monitor(BIG, limit=5)
    assert page.total == 12 and len(page.rows) == 5
    (page_sql, _), (count_sql, count_args) = seen
    assert "count(" not in page_sql.lower() and "count(" in count_sql.lower()
    last = page.rows[-1].instance.id
    assert last in (count_args.values() if isinstance(count_args, dict) else count_args)
    with statements(root) as seen:  # a short page holds every match: no count at all
        short = await root.monitor(BIG, limit=20)
    assert short.total == 12 and len(short.rows) == 12 and len(seen) == 1
    with statements(root) as seen:  # a short page at an offset: every match is up to it
        rest = await root.monitor(BIG, limit=5, offset=10)
    assert rest.total == 12 and len(rest.rows) == 2 and len(seen) == 1


async def test_a_full_page_ending_on_a_row_without_updated_at(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """Every write sets updated_at, but a hand-made or imported row may lack it: a full page
    ending on one counts every match (it failed an assert, a crash of the whole page)."""
    root, _ = await setup(open_engine, tmp_path, claims=7)
    async with root.store.write() as conn:
        await conn.execute(text("UPDATE instances SET updated_at = NULL"))
    for limit in (1, 5, 12):
        page = await root.monitor(BIG, limit=limit)
        assert page.total == 12 and len(page.rows) == limit


async def test_totals_exact_and_rights_apply_to_the_count(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    """A row the caller may not view is neither shown nor counted, at every page."""
    root, mona = await setup(open_engine, tmp_path, claims=7)
    everything = [r.instance.id for r in (await root.monitor(BIG, limit=100)).rows]
    assert len(everything) == 12
    mine = [r.instance.id for r in (await mona.monitor(BIG, limit=100)).rows]
    assert len(mine) == 7  # not the 5 "other" ones
    for engine, ids in ((root, everything), (mona, mine)):
        for limit in (1, 3, 7, 12, 13):
            for offset in range(0, len(ids) + 2, limit):
                page = await engine.monitor(BIG, limit=limit, offset=offset)
                assert page.total == len(ids), (engine.user, limit, offset)
                assert [r.instance.id for r in page.rows] == ids[offset : offset + limit]


async def test_the_cap_check_is_unchanged(open_engine: OpenEngine, tmp_path: Path) -> None:
    """Over the cap (by the rows mona may view only), at any page: FilterTooBroad with the
    exact number; at the cap: the page and the exact total."""
    root, mona = await setup(open_engine, tmp_path, claims=100)  # 100 claims match
    await root.set_param("max_monitored_flows", 100)
    for engine in (mona, root):  # root also sees the 5 others: 105
        for limit, offset in ((10, 0), (10, 50), (100, 0), (200, 0), (10, 95)):
            if engine is mona:
                page = await engine.monitor(BIG, limit=limit, offset=offset)
                assert page.total == 100 and len(page.rows) == min(limit, 100 - offset)
            else:
                with pytest.raises(FilterTooBroad) as too_broad:
                    await engine.monitor(BIG, limit=limit, offset=offset)
                assert (too_broad.value.matched, too_broad.value.limit) == (105, 100)
    await root.start_many("claims", [{"amount": "100"}])
    with pytest.raises(FilterTooBroad) as too_broad:
        await mona.monitor(BIG, limit=10)
    assert too_broad.value.matched == 101


async def test_a_change_between_page_and_count_never_leaves_the_total_below_the_rows(
    open_engine: OpenEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instances stop matching (committed by another connection) after the page was read
    and before the matches past it are counted: the count reads the page's snapshot (one
    read transaction; on PostgreSQL REPEATABLE READ), so the total is the page's exact
    one, never below offset + the rows shown (fails on PostgreSQL in READ COMMITTED)."""
    root, _ = await setup(open_engine, tmp_path, claims=7)
    run_count = mon_q.run_count

    async def change_first(conn: Any, stmt: Any, cursor: Any) -> Any:
        async with root.store.write() as other:  # every match stops matching
            await other.execute(text("UPDATE instance_vars SET num = 0 WHERE name = 'amount'"))
        return await run_count(conn, stmt, cursor)

    monkeypatch.setattr(mon_q, "run_count", change_first)
    page = await root.monitor(BIG, limit=5, offset=5)
    assert len(page.rows) == 5 and page.total == 12
    monkeypatch.undo()
    assert (await root.monitor(BIG, limit=5)).total == 0


async def test_a_snapshot_read_leaves_the_pool_as_it_was(open_engine: OpenEngine) -> None:
    """PostgreSQL: the monitor's REPEATABLE READ is for its own call; the pooled
    connection goes back in READ COMMITTED (the store's other reads expect it)."""
    root = await open_engine()
    if root.store.is_sqlite:
        pytest.skip("SQLite: a read transaction is a snapshot anyway")
    show = text("SHOW transaction_isolation")
    await root.monitor(MonitorFilter(statuses=["error"]))
    async with root.store.read(snapshot=True) as conn:
        assert (await conn.execute(show)).scalar() == "repeatable read"
    for _ in range(8):  # more than the pool keeps idle: each connection it returned
        async with root.store.read() as conn:
            assert (await conn.execute(show)).scalar() == "read committed"

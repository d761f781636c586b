"""The monitor: filter semantics (status, state, variables, waiting on, originator,
times), the max_monitored_flows cap and its message, rights and masking in results,
saved filters. Both backends."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from engine.helpers import wait_status
from switchyard.engine.api import Engine
from switchyard.engine.errors import Refused, SwitchyardError
from switchyard.engine.monitor.api import FilterTooBroad
from switchyard.engine.monitor.filters import MonitorFilter, parse_condition
from switchyard.engine.node.runtime import Runtime
from switchyard.store.queries.monitor import VarTest

OpenEngine = Callable[..., Awaitable[Engine]]
StartRuntime = Callable[..., Awaitable[Runtime]]

CLAIMS = """
process: claims
variables:
  employee: {type: string, required: true}
  amount: {type: decimal, required: true}
  urgent: {type: boolean, default: false}
  iban: {type: string, security: finance}
start: check
states:
  check:
    actions:
      - if: "amount > 1000"
        then: [change_state: review]
      - end_process: small
  review:
    actions:
      - wait: {for: 1h}
      - end_process: reviewed
"""


async def setup(open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path) -> Engine:
    root = await open_engine()
    path = tmp_path / "claims.yaml"
    path.write_text(textwrap.dedent(CLAIMS).lstrip(), encoding="utf-8")
    await root.add_secspec("finance", users=[root.login])
    await root.publish([path])
    await runtime(root)
    return root


def flt(**kw: object) -> MonitorFilter:
    return MonitorFilter(**kw)  # type: ignore[arg-type]


def test_conditions_read_like_people_write_them() -> None:
    assert parse_condition("amount > 1000") == VarTest("amount", ">", 1000.0)
    assert parse_condition('employee = "Ann"') == VarTest("employee", "=", "Ann")
    assert parse_condition("employee==Ann") == VarTest("employee", "=", "Ann")
    assert parse_condition("note contains late fee") == VarTest("note", "contains", "late fee")
    assert parse_condition("iban exists") == VarTest("iban", "exists")
    assert parse_condition("code = '0042'") == VarTest("code", "=", "0042")
    for bad, says in {
        "amount >": "no value after '>'",
        "1x = 2": "cannot read condition",
        "iban exists now": "'exists' takes no value",
    }.items():
        with pytest.raises(SwitchyardError, match=says):
            parse_condition(bad)
    with pytest.raises(SwitchyardError, match="unknown status 'done'"):
        MonitorFilter(statuses=["done"])


async def test_filters_combine_and_page_newest_first(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    ids = {}
    for who, amount in [("Ann", "1500"), ("Bob", "200"), ("Ann", "99.5"), ("Cy", "2500.75")]:
        ids[(who, amount)] = await root.start_process(
            "claims", {"employee": who, "amount": amount, "iban": "DE00SECRET001"}
        )
    for instance_id in ids.values():
        await wait_status(root, instance_id, "waiting", "completed")
    big = [ids[("Ann", "1500")], ids[("Cy", "2500.75")]]

    async def found(**kw: object) -> list[int]:
        return [r.instance.id for r in (await root.monitor(flt(**kw))).rows]

    assert sorted(await found(variables=["amount > 1000"])) == sorted(big)
    assert sorted(await found(statuses=["waiting"])) == sorted(big)
    assert await found(statuses=["completed"], variables=['employee = "Ann"']) == [
        ids[("Ann", "99.5")]
    ]
    assert await found(variables=["amount >= 2500.75", "employee contains C"]) == [
        ids[("Cy", "2500.75")]
    ]
    assert sorted(await found(state="review")) == sorted(big)
    assert sorted(await found(waiting_on="timer")) == sorted(big)
    assert await found(waiting_on="work item") == []
    assert len(await found(processes=["claims"], variables=["urgent = 0"])) == 4
    assert len(await found(variables=["urgent exists"])) == 4
    assert await found(variables=["nothing exists"]) == []
    assert len(await found(originator=root.login)) == 4
    page = await root.monitor(flt(processes=["claims"]), limit=2)
    assert page.total == 4 and len(page.rows) == 2
    rest = await root.monitor(flt(processes=["claims"]), limit=2, offset=2)
    assert {r.instance.id for r in page.rows + rest.rows} == set(ids.values())
    with pytest.raises(SwitchyardError, match="set a filter first"):
        await root.monitor(flt())


async def test_the_cap_cancels_a_broad_filter_with_the_numbers(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    await root.set_param("max_monitored_flows", 100)
    for n in range(101):
        await root.start_process("claims", {"employee": f"e{n}", "amount": "1"})
    with pytest.raises(FilterTooBroad) as too_broad:
        await root.monitor(flt(processes=["claims"]))
    assert str(too_broad.value) == (
        "filter matches 101 instances; the limit is 100 — narrow your filter"
    )
    page = await root.monitor(flt(processes=["claims"], variables=["employee = e7"]))
    assert page.total == 1
    (entry, *_) = await root.event_log(kind="filter.cancelled")
    assert entry.message == ("filter cancelled: process claims matches 101; the limit is 100")


async def test_rights_and_masking_in_results(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    await root.add_user("mona", licence="monitor")
    await root.add_user("dina", licence="direct")
    instance_id = await root.start_process(
        "claims", {"employee": "Ann", "amount": "5", "iban": "DE00SECRET001"}
    )
    await wait_status(root, instance_id, "completed")
    mona, dina = await open_engine(user="mona"), await open_engine(user="dina")
    assert (await mona.monitor(flt(processes=["claims"]))).rows == []  # no view right yet
    await root.grant("claims", "mona", view=True)
    (row,) = (await mona.monitor(flt(processes=["claims"]))).rows
    assert row.variables["iban"] == "****" and row.variables["employee"] == "Ann"
    assert (await root.monitor(flt(processes=["claims"]))).rows[0].variables["iban"] == (
        "DE00SECRET001"
    )
    with pytest.raises(Refused, match="mona may not filter on iban: it is secured by finance"):
        await mona.monitor(flt(variables=["iban = DE00SECRET001"]))
    with pytest.raises(Refused, match="needs the monitor licence"):
        await dina.monitor(flt(processes=["claims"]))


async def test_saved_filters_are_per_user(
    open_engine: OpenEngine, runtime: StartRuntime, tmp_path: Path
) -> None:
    root = await setup(open_engine, runtime, tmp_path)
    await root.add_user("mona", licence="monitor")
    mona = await open_engine(user="mona")
    big = flt(processes=["claims"], statuses=["waiting"], variables=["amount > 1000"])
    await mona.save_filter("big claims", big)
    assert await mona.saved_filters() == {"big claims": big}
    assert await root.saved_filters() == {}
    await mona.save_filter("big claims", flt(processes=["claims"]))
    assert (await mona.saved_filters())["big claims"].statuses == []
    await mona.delete_filter("big claims")
    assert await mona.saved_filters() == {}
    with pytest.raises(SwitchyardError, match="no saved filter 'nope'"):
        await mona.delete_filter("nope")

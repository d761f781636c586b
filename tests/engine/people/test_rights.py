"""Licences and rights: the licence ladder, launch / view / manage per process and on "*",
rights through groups, the originator's view, the visibility filter of listings, and that
every refusal names what is missing and is written to the audit log."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine.helpers import spec
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError
from switchyard.engine.errors import Conflict, NotFound, Refused, SwitchyardError
from switchyard.engine.schedules.spec import ScheduleSpec

OpenEngine = Callable[..., Awaitable[Engine]]

SIMPLE = """
process: {name}
variables:
  amount: {{type: integer, default: 1}}
start: go
states:
  go:
    actions:
      - end_process: done
"""


def write(tmp_path: Path, name: str, text: str | None = None) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text or SIMPLE.format(name=name)).lstrip(), encoding="utf-8")
    return path


@dataclass
class Cast:
    root: Engine
    alice: Engine  # designer
    bob: Engine  # monitor
    carol: Engine  # group, member of "clerks"
    dave: Engine  # direct


@pytest.fixture
async def cast(open_engine: OpenEngine, tmp_path: Path) -> Cast:
    root = await open_engine()
    await root.publish([write(tmp_path, "expense"), write(tmp_path, "payroll")])
    for login, licence in (
        ("alice", "designer"),
        ("bob", "monitor"),
        ("carol", "group"),
        ("dave", "direct"),
    ):
        await root.add_user(login, licence=licence)
    await root.add_group("clerks")
    await root.add_member("clerks", "carol")
    engines = [await open_engine(user=u) for u in ("alice", "bob", "carol", "dave")]
    return Cast(root, *engines)


async def refused(call: Awaitable[object], message: str) -> Refused:
    with pytest.raises(Refused) as caught:
        await call
    assert str(caught.value) == message
    assert caught.value.exit_code == 4
    return caught.value


async def test_the_licence_ladder(cast: Cast, tmp_path: Path) -> None:
    path = write(tmp_path, "fresh")
    for who in (cast.dave, cast.carol, cast.bob):
        await refused(
            who.publish([path]), f"{who.user} needs the designer licence to publish processes"
        )
        await refused(
            who.validate_files([path]),
            f"{who.user} needs the designer licence to validate processes",
        )
        await refused(
            who.add_schedule(spec("mine", ["true"])),
            f"{who.user} needs the designer licence to add schedules",
        )
    [published] = await cast.alice.publish([path])
    assert published.version == 1
    await cast.alice.add_schedule(spec("nightly", ["true"]))
    await cast.alice.set_paused("nightly", True)
    await refused(cast.dave.set_paused("nightly", False), "dave needs the designer licence to pause or resume schedules")  # fmt: skip
    await refused(cast.bob.remove_schedule("nightly"), "bob needs the designer licence to remove schedules")  # fmt: skip
    # designers are not admins: lanes, secrets and people need the admin right
    await refused(cast.alice.add_lane("fast"), "alice needs the admin right to add lanes")
    await refused(cast.alice.set_secret("k", "v"), "alice needs the admin right to set secrets")
    await refused(cast.alice.secrets(), "alice needs the admin right to list secrets")
    await refused(cast.alice.add_user("x"), "alice needs the admin right to add users")
    await refused(cast.alice.grant("*", "dave", launch=True), "alice needs the admin right to grant rights")  # fmt: skip
    await refused(cast.alice.rights(), "alice needs the admin right to list rights")
    # reading what exists needs no more than being a user
    assert {p.name for p in await cast.dave.processes()} == {"expense", "payroll", "fresh"}
    assert (await cast.dave.process("expense")).name == "expense"
    assert [s.name for s in await cast.dave.schedules()] == ["nightly"]
    assert [lane.name for lane in await cast.dave.lanes()] == ["default"]


async def test_launch_per_process_on_star_and_through_groups(cast: Cast) -> None:
    await refused(
        cast.dave.start_process("expense"),
        "dave may not start expense: needs the launch right on it",
    )
    await cast.root.grant("expense", "dave", launch=True)
    assert await cast.dave.start_process("expense") > 0
    await refused(
        cast.dave.start_process("payroll"),
        "dave may not start payroll: needs the launch right on it",
    )
    # through a group, on every process
    await refused(cast.carol.start_process("payroll"), "carol may not start payroll: needs the launch right on it")  # fmt: skip
    await cast.root.grant("*", "clerks", launch=True)
    assert await cast.carol.start_process("payroll") > 0
    assert await cast.carol.start_process("expense") > 0
    # designers start any process; admins hold every right
    assert await cast.alice.start_process("payroll") > 0
    assert await cast.root.start_process("payroll") > 0
    # revoking takes it away again
    await cast.root.revoke("*", "clerks")
    await refused(cast.carol.start_process("payroll"), "carol may not start payroll: needs the launch right on it")  # fmt: skip


async def test_view_originator_and_the_filtered_listing(cast: Cast) -> None:
    await cast.root.grant("expense", "dave", launch=True)
    mine = await cast.dave.start_process("expense")
    theirs = await cast.root.start_process("expense")
    other = await cast.root.start_process("payroll")
    # the originator may view what they started, and nothing else
    assert (await cast.dave.instance_detail(mine)).instance.id == mine
    assert (await cast.dave.instance(mine)).id == mine
    assert [v.id for v in await cast.dave.instances()] == [mine]
    await refused(
        cast.dave.instance_detail(theirs),
        f"dave may not view instance {theirs} of expense: needs the view right on expense",
    )
    await refused(
        cast.dave.log(theirs),
        f"dave may not read the log of instance {theirs} of expense: needs the view right on expense",
    )
    with pytest.raises(Refused, match="needs the view right on expense"):
        async for _ in cast.dave.follow_log(theirs):
            pass
    # a monitor licence alone does not open process instances
    assert await cast.bob.instances() == []
    await cast.root.grant("expense", "bob", view=True)
    assert [v.id for v in await cast.bob.instances()] == [theirs, mine]
    await refused(
        cast.bob.instance(other),
        f"bob may not view instance {other} of payroll: needs the view right on payroll",
    )
    # "*" covers every process; manage implies view; admins see everything
    await cast.root.grant("*", "clerks", view=True)
    assert [v.id for v in await cast.carol.instances()] == [other, theirs, mine]
    await cast.root.grant("payroll", "dave", manage=True)
    assert [v.id for v in await cast.dave.instances()] == [other, mine]
    assert len(await cast.root.instances()) == 3
    entries, total = await cast.dave.queue()
    assert total == 2 and sorted(e.instance.id for e in entries) == [mine, other]


async def test_the_listing_filter_is_in_the_query_so_pages_stay_full(cast: Cast) -> None:
    await cast.root.grant("expense", "dave", launch=True)
    visible = []
    for _ in range(5):
        visible.append(await cast.dave.start_process("expense"))
        await cast.root.start_process("payroll")  # hidden from dave, between his
    first = await cast.dave.instances(limit=2)
    assert [v.id for v in first] == visible[::-1][:2]
    second = await cast.dave.instances(limit=2, before_id=first[-1].id)
    assert [v.id for v in second] == visible[::-1][2:4]
    page, total = await cast.dave.queue(limit=3)
    assert total == 5 and len(page) == 3


async def test_manage_is_needed_to_cancel_retry_and_skip(cast: Cast) -> None:
    await cast.root.grant("expense", "dave", launch=True)
    mine = await cast.dave.start_process("expense")
    for verb, call in (
        ("cancel", cast.dave.cancel(mine)),
        ("retry", cast.dave.retry(mine)),
        ("skip", cast.dave.skip(mine)),
    ):
        await refused(
            call,
            f"dave may not {verb} instance {mine} of expense: needs the manage right on expense",
        )
    await cast.root.grant("expense", "clerks", manage=True)
    await cast.root.add_member("clerks", "dave")
    with pytest.raises(Conflict, match="nothing to retry"):  # allowed: the instance is queued
        await cast.dave.retry(mine)
    assert (await cast.dave.cancel(mine)).status == "cancelled"


async def test_command_schedule_runs(cast: Cast) -> None:
    await cast.root.add_schedule(spec("nightly", ["true"]))
    run = await cast.root.start("nightly")
    await refused(cast.dave.start("nightly"), "dave may not start nightly: needs the launch right on it")  # fmt: skip
    # a command run is visible from the monitor licence up
    assert await cast.dave.instances() == []
    assert [v.id for v in await cast.bob.instances()] == [run]
    await refused(
        cast.dave.instance(run),
        f"dave may not view instance {run} of nightly: needs the monitor licence or the view "
        "right on nightly",
    )
    await refused(
        cast.bob.cancel(run),
        f"bob may not cancel instance {run} of nightly: needs the designer licence or the "
        "manage right on nightly",
    )
    # a schedule's name takes rights like a process's
    await cast.root.grant("nightly", "dave", launch=True)
    own = await cast.dave.start("nightly")
    assert [v.id for v in await cast.dave.instances()] == [own]
    assert (await cast.alice.cancel(run)).status == "cancelled"  # designers run schedules


async def test_every_refusal_is_audited_with_what_was_needed(cast: Cast) -> None:
    await refused(cast.dave.start_process("expense"), "dave may not start expense: needs the launch right on it")  # fmt: skip
    await refused(cast.bob.add_lane("x"), "bob needs the admin right to add lanes")
    refusals = [a for a in await cast.root.audit() if a.action == "refused"]
    assert [(a.login, a.detail["operation"], a.detail["needs"]) for a in refusals] == [
        ("bob", "add_lane", "admin"),
        ("dave", "start_process", "launch"),
    ]
    assert refusals[1].target == "expense"
    assert refusals[1].detail["why"] == "dave may not start expense: needs the launch right on it"


async def test_rights_subjects_targets_and_listing(cast: Cast) -> None:
    await cast.root.add_user("ops")
    await cast.root.add_group("ops")
    with pytest.raises(SwitchyardError, match="both a user and a group"):
        await cast.root.grant("expense", "ops", view=True)
    right = await cast.root.grant("expense", "ops", view=True, kind="group")
    assert (right.kind, right.subject, right.view, right.launch) == ("group", "ops", True, False)
    with pytest.raises(NotFound, match="no user or group named 'nobody'"):
        await cast.root.grant("expense", "nobody", view=True)
    with pytest.raises(NotFound, match="unknown process or schedule 'typo'"):
        await cast.root.grant("typo", "dave", view=True)
    with pytest.raises(SwitchyardError, match="say which"):
        await cast.root.grant("expense", "dave")
    await cast.root.grant("expense", "dave", launch=True)
    both = await cast.root.grant("expense", "dave", manage=True)
    assert (both.launch, both.view, both.manage) == (True, False, True)  # held rights stay
    left = await cast.root.revoke("expense", "dave", launch=True)
    assert left is not None and (left.launch, left.manage) == (False, True)
    assert await cast.root.revoke("expense", "dave") is None
    with pytest.raises(NotFound, match="holds no rights"):
        await cast.root.revoke("expense", "dave")
    await cast.root.grant("*", "clerks", view=True)
    listed = [(r.process, r.kind, r.subject) for r in await cast.root.rights("expense")]
    assert listed == [("*", "group", "clerks"), ("expense", "group", "ops")]


async def test_definitions_must_name_known_groups_users_and_specs(
    cast: Cast, tmp_path: Path
) -> None:
    text = """
    process: routed
    variables:
      iban: {type: string, security: finance}
    start: go
    states:
      go:
        actions:
          - send_work_item: {form: f, to: {workgroup: approvers}}
          - send_work_item: {form: f, to: {user: zoe}}
          - end_process: done
    forms:
      f:
        fields: [iban]
        buttons:
          OK: []
    """
    path = write(tmp_path, "routed", text)
    with pytest.raises(DefinitionError) as caught:
        await cast.root.publish([path])
    messages = {i.message.split(" (")[0] for i in caught.value.issues}
    assert messages == {
        "unknown security spec 'finance'",
        "unknown workgroup 'approvers'",
        "unknown user 'zoe'",
    }
    await cast.root.add_group("approvers")
    await cast.root.add_user("zoe")
    await cast.root.add_secspec("finance", users=["zoe"])
    [result] = await cast.root.publish([path])
    assert result.version == 1


async def test_running_a_process_schedule_needs_launch_on_it_or_on_its_process(
    cast: Cast,
) -> None:
    await cast.root.add_schedule(ScheduleSpec("daily-expense", on_demand=True, process="expense"))
    await refused(
        cast.dave.start("daily-expense"),
        "dave may not start daily-expense: needs the launch right on it or on expense",
    )
    await cast.root.grant("expense", "dave", launch=True)
    run = await cast.dave.start("daily-expense")
    assert (await cast.dave.instance(run)).process == "expense"  # dave is its originator

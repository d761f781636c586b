"""Identity: the OS login is the user; the first login on an empty store becomes its admin;
an unknown login is refused with what to do; ``--as`` (as_user) is for admins only and
is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.errors import Conflict, NotFound, Refused, SwitchyardError
from switchyard.engine.kernel.clock import FixedClock
from switchyard.engine.people import Identity

OpenEngine = Callable[..., Awaitable[Engine]]


async def test_the_first_login_on_an_empty_store_becomes_an_admin_designer(
    open_engine: OpenEngine,
) -> None:
    first = await open_engine(user="alice")
    me = await first.identity()
    assert me == Identity("alice", None, "designer", True, (), (), None)
    [entry] = [a for a in await first.audit() if a.action == "first-start"]
    assert entry.login == "alice" and entry.detail == {"licence": "designer", "admin": True}
    # a second login is not made an admin: it is not a user at all
    with pytest.raises(Refused):
        await open_engine(user="bob")
    assert [u.login for u in await first.users()] == ["alice"]


async def test_an_unknown_login_is_told_how_to_get_in_and_it_is_audited(
    open_engine: OpenEngine,
) -> None:
    admin = await open_engine()
    with pytest.raises(SwitchyardError) as caught:
        await open_engine(user="mallory")
    exc = caught.value
    assert isinstance(exc, Refused) and exc.exit_code == 4 and exc.field == "user"
    assert str(exc) == (
        "not a Switchyard user: mallory (an admin can add you: switchyard user add mallory)"
    )
    [entry] = [a for a in await admin.audit() if a.action == "refused"]
    assert entry.login == "mallory" and entry.detail["operation"] == "open"


async def test_first_starts_racing_make_exactly_one_admin(
    db_url: str, data_dir: Path, clock: FixedClock
) -> None:
    async def opener(login: str) -> Engine | BaseException:
        try:
            return await Engine.open(db_url, data_dir=data_dir, clock=clock, user=login)
        except Refused as exc:
            return exc

    results = await asyncio.gather(*(opener(f"user{n}") for n in range(4)))
    engines = [r for r in results if isinstance(r, Engine)]
    try:
        assert len(engines) == 1, results
        assert all(isinstance(r, Refused) for r in results if not isinstance(r, Engine))
        users = await engines[0].users()
        assert [(u.login, u.admin, u.licence) for u in users] == [
            (engines[0].login, True, "designer")
        ]
    finally:
        for engine in engines:
            await engine.close()


async def test_identity_carries_name_licence_groups_and_roles(open_engine: OpenEngine) -> None:
    admin = await open_engine()
    await admin.add_user("carol", "Carol C", "monitor", False, ["finance", "audit"])
    await admin.add_group("managers")
    await admin.add_member("managers", "carol")
    carol = await open_engine(user="carol")
    me = await carol.identity()
    assert me == Identity("carol", "Carol C", "monitor", False, ("managers",), ("finance", "audit"))
    assert me.has_licence("group") and me.has_licence("monitor")
    assert not me.has_licence("designer")


async def test_an_admin_may_act_as_another_user_and_it_is_audited(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    admin = await open_engine()
    await admin.add_user("dave", licence="direct")
    as_dave = await open_engine(as_user="dave")
    me = await as_dave.identity()
    assert (me.login, me.licence, me.admin, me.real_login) == ("dave", "direct", False, admin.login)
    # it acts with dave's rights, not the admin's
    with pytest.raises(Refused, match="dave needs the admin right to add lanes"):
        await as_dave.add_lane("mine")
    audit = await admin.audit()
    impersonations = [a for a in audit if a.action == "impersonate"]
    assert [(a.login, a.as_login, a.target) for a in impersonations] == [
        (admin.login, "dave", "dave")
    ]
    refused = [a for a in audit if a.action == "refused"]
    assert [(a.login, a.as_login, a.detail["operation"]) for a in refused] == [
        (admin.login, "dave", "add_lane")
    ]


async def test_acting_as_someone_else_needs_the_admin_right(open_engine: OpenEngine) -> None:
    admin = await open_engine()
    await admin.add_user("dave", licence="designer")
    with pytest.raises(Refused) as caught:
        await open_engine(user="dave", as_user=admin.login)
    assert str(caught.value) == f"dave may not act as {admin.login} (--as): needs the admin right"
    assert caught.value.field == "admin"
    [entry] = [a for a in await admin.audit() if a.action == "refused"]
    assert (entry.login, entry.as_login, entry.detail["operation"]) == (
        "dave",
        admin.login,
        "impersonate",
    )
    assert not [a for a in await admin.audit() if a.action == "impersonate"]
    with pytest.raises(Refused, match="not a Switchyard user: ghost"):
        await open_engine(as_user="ghost")


async def test_people_changes_are_checked_and_audited(open_engine: OpenEngine) -> None:
    admin = await open_engine()
    await admin.add_user("erin", "Erin", "group", False, ["ops"])
    with pytest.raises(Conflict, match="exists already"):
        await admin.add_user("erin")
    with pytest.raises(SwitchyardError, match="unknown licence 'boss'"):
        await admin.add_user("frank", licence="boss")
    with pytest.raises(SwitchyardError, match="not a valid login"):
        await admin.add_user("no spaces")
    view = await admin.set_user("erin", licence="monitor", roles=["ops", "finance"])
    assert (view.licence, view.roles, view.name) == ("monitor", ["ops", "finance"], "Erin")
    with pytest.raises(Conflict, match="last admin"):
        await admin.set_user(admin.login, admin=False)
    with pytest.raises(Conflict, match="last admin"):
        await admin.remove_user(admin.login)
    await admin.add_group("ops")
    await admin.add_member("ops", "erin")
    with pytest.raises(NotFound, match="unknown user 'nobody'"):
        await admin.add_member("ops", "nobody")
    await admin.remove_user("erin")
    assert [g.members for g in await admin.groups()] == [[]]
    actions = [a.action for a in reversed(await admin.audit())]
    assert actions == [
        "first-start",
        "user.add",
        "user.set",
        "group.add",
        "group.member.add",
        "user.remove",
    ]


async def test_a_user_removed_while_their_engine_is_open_is_refused_next_time(
    open_engine: OpenEngine,
) -> None:
    admin = await open_engine()
    await admin.add_user("gina", licence="designer")
    gina = await open_engine(user="gina")
    assert await gina.lanes()
    await admin.remove_user("gina")
    with pytest.raises(Refused, match="not a Switchyard user: gina"):
        await gina.lanes()


async def test_licence_changes_apply_to_open_engines_at_once(open_engine: OpenEngine) -> None:
    admin = await open_engine()
    await admin.add_user("hal", licence="direct")
    hal = await open_engine(user="hal")
    with pytest.raises(Refused, match="hal needs the admin right to add lanes"):
        await hal.add_lane("fast")
    await admin.set_user("hal", admin=True)
    assert (await hal.add_lane("fast")).name == "fast"

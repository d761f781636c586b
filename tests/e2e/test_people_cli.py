"""People from the command line, as several identities: the harness runs every `switchyard`
as root (the store's first user, so its admin), and root acts as alice, bob, carol and
dave with the global `--as LOGIN` option. Dave, with the lowest licence and no rights, is
refused every operation with one stderr line naming the missing licence or right, exit 4.
Independent calls go side by side (`cli_many`): each start-up costs a second of CPU."""

from __future__ import annotations

import json
import textwrap

import pytest

pytestmark = pytest.mark.slow

PROCESS = """
process: expense
variables:
  employee: {type: string, default: eve}
  iban: {type: string, security: finance, report: true}
start: hold
states:
  hold:
    actions:
      - wait: {for: 1h}
      - end_process: done
"""
IBAN = "DE89370400440532013000"


def as_(login: str, *args: str) -> list[str]:
    return ["--as", login, *args]


def parsed(procs: list) -> list:
    return [json.loads(p.stdout) for p in procs]


async def test_people_rights_and_refusals_through_the_cli(sy) -> None:
    path = sy.tmp_path / "expense.yaml"
    path.write_text(textwrap.dedent(PROCESS).lstrip(), encoding="utf-8")
    sy.cli_many(
        ["user", "add", "alice", "--name", "Alice", "--licence", "designer"],
        ["user", "add", "bob", "--licence", "monitor"],
        ["user", "add", "carol", "--licence", "group", "--role", "payroll"],
        ["user", "add", "dave"],
        ["group", "add", "clerks"],
    )
    sy.cli_many(
        ["group", "member", "add", "clerks", "carol"],
        ["secspec", "add", "finance", "--users", "alice", "--roles", "payroll"],
        ["schedule", "add", "nightly", "--on-demand", "--", "true"],
    )
    sy.cli(*as_("alice", "process", "publish", str(path)))  # a designer publishes
    me, users, groups, specs = parsed(
        sy.cli_many(
            ["whoami", "--json"],
            ["user", "list", "--json"],
            ["group", "list", "--json"],
            ["secspec", "list", "--json"],
        )
    )
    root = me["login"]
    assert (me["licence"], me["admin"], me["real_login"]) == ("designer", True, None)
    users = {u["login"]: u for u in users}
    assert users["carol"]["groups"] == ["clerks"] and users["carol"]["roles"] == ["payroll"]
    assert users["dave"]["licence"] == "direct" and not users["dave"]["admin"]
    assert groups == [{"name": "clerks", "members": ["carol"]}]
    assert specs == [{"name": "finance", "users": ["alice"], "groups": [], "roles": ["payroll"]}]
    sy.cli_many(
        ["right", "grant", "expense", "clerks", "--launch"],
        ["right", "grant", "expense", "alice", "--view"],  # designing is not viewing
    )
    # carol launches through her group
    started = sy.cli_many(
        as_("carol", "start", "expense", "--var", f"iban={IBAN}"), ["start", "nightly"]
    )
    carols, nightly = (int(p.stdout) for p in started)
    # the originator may view her instance; carol holds the spec's role, alice is listed in
    # it, root is an admin but outside it
    by_carol, by_alice, by_root, rights = parsed(
        sy.cli_many(
            as_("carol", "instance", "show", str(carols), "--json"),
            as_("alice", "instance", "show", str(carols), "--json"),
            ["instance", "show", str(carols), "--json"],
            ["right", "list", "--json"],
        )
    )
    assert by_carol["instance"]["id"] == carols
    assert by_carol["variables"]["iban"] == IBAN == by_alice["variables"]["iban"]
    assert by_root["variables"]["iban"] == "****" and IBAN not in json.dumps(by_root)
    assert [(r["process"], r["subject"], r["launch"], r["view"]) for r in rights] == [
        ("expense", "clerks", True, False),  # groups first, then users
        ("expense", "alice", False, True),
    ]

    # dave: refused everything, each time naming what he lacks
    expected = {
        ("process", "publish", str(path)): "dave needs the designer licence to publish processes",
        ("start", "expense"): "dave may not start expense: needs the launch right on it",
        ("start", "nightly"): "dave may not start nightly: needs the launch right on it",
        ("instance", "show", str(carols)): (
            f"dave may not view instance {carols} of expense: needs the view right on expense"
        ),
        ("log", str(nightly)): (
            f"dave may not read the log of instance {nightly} of nightly: needs the monitor "
            "licence or the view right on nightly"
        ),
        ("cancel", str(carols)): (
            f"dave may not cancel instance {carols} of expense: needs the manage right on expense"
        ),
        ("retry", str(carols)): (
            f"instance {carols}: dave may not retry instance {carols} of expense: needs the "
            "manage right on expense"
        ),
        ("schedule", "add", "x", "--on-demand", "--", "true"): (
            "dave needs the designer licence to add schedules"
        ),
        ("schedule", "pause", "nightly"): (
            "dave needs the designer licence to pause or resume schedules"
        ),
        ("lane", "add", "fast"): "dave needs the admin right to add lanes",
        ("secret", "list"): "dave needs the admin right to list secrets",
        ("user", "add", "mallory"): "dave needs the admin right to add users",
        ("group", "member", "add", "clerks", "dave"): (
            "dave needs the admin right to change group members"
        ),
        ("right", "grant", "expense", "dave", "--launch"): (
            "dave needs the admin right to grant rights"
        ),
        ("right", "list"): "dave needs the admin right to list rights",
        ("secspec", "add", "mine"): "dave needs the admin right to add security specs",
        ("audit",): "dave needs the admin right to read the audit log",
    }
    procs = sy.cli_many(*(as_("dave", *args) for args in expected), expect=4)
    for (args, message), proc in zip(expected.items(), procs, strict=True):
        assert (proc.stderr, proc.stdout) == (f"error: {message}\n", ""), args

    # what dave may do: read what exists, list the (no) instances he may see; bob's monitor
    # licence shows command runs
    dave_sees, processes, dave, bob_sees = parsed(
        sy.cli_many(
            as_("dave", "instances", "--json"),
            as_("dave", "process", "list", "--json"),
            as_("dave", "whoami", "--json"),
            as_("bob", "instances", "--json"),
        )
    )
    assert dave_sees == [] and [p["name"] for p in processes] == ["expense"]
    assert (dave["login"], dave["real_login"]) == ("dave", root)
    assert [i["id"] for i in bob_sees] == [nightly]

    sy.cli("right", "grant", "*", "bob", "--view")  # a view right opens the process instances
    bob = sy.cli_many(
        as_("bob", "instances", "--json"),
        as_("bob", "instance", "show", str(carols), "--json"),
        as_("ghost", "whoami"),
        expect=None,
    )
    assert sorted(i["id"] for i in json.loads(bob[0].stdout)) == sorted([nightly, carols])
    assert json.loads(bob[1].stdout)["variables"]["iban"] == "****"
    assert (bob[2].returncode, bob[2].stderr) == (
        4,
        "error: not a Switchyard user: ghost (an admin can add you: switchyard user add ghost)\n",
    )

    # the audit trail: dave's refusals were root acting as dave, each naming what was missing
    audit = sy.json("audit", "--limit", "500")
    davids = [a for a in audit if a["action"] == "refused" and a["as_login"] == "dave"]
    assert len(davids) == len(expected)
    assert all(a["login"] == root for a in davids)
    assert {a["detail"]["needs"] for a in davids} == {
        "launch", "view", "manage", "designer", "admin",
    }  # fmt: skip
    assert any(a["action"] == "impersonate" and a["as_login"] == "carol" for a in audit)
    assert [a["target"] for a in audit if a["action"] == "right.grant"] == [
        "*",
        "expense",
        "expense",
    ]
    sy.cli("cancel", str(carols))

"""Defence in depth: a value that reaches text anyway (a definition stored before the flow
rules, an error message quoting what it got) is masked by the one masker
(engine/people/masking.py) on every exit: reason, outcome, step errors and notes, history,
the CLI's text and JSON, the store itself for secrets."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from security._secrets_helpers import (
    Cli,
    OpenEngine,
    finished,
    open_engine,
    publish_unchecked,
    store_dump,
)
from switchyard.engine.definitions import parse_definition
from switchyard.engine.people import MASK
from switchyard.engine.people.masking import TextMasker, secret_variants
from switchyard.engine.process.executor import SECRET_IN_VARIABLE
from switchyard.engine.views import to_json

__all__ = ["open_engine"]

TOKEN = "tok-Zq81-unique-secret-MARK"
IBAN = "DE44IBAN-MARKER-5170042"


def test_the_masker_hides_a_secret_and_its_common_transforms() -> None:
    masker = TextMasker([TOKEN])
    raw = TOKEN.encode()
    for shown in (
        TOKEN,
        TOKEN.upper(),
        TOKEN.lower(),
        TOKEN[::-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        raw.hex(),
    ):
        assert masker.mask(f"x {shown} y") == f"x {MASK} y", shown
    assert secret_variants(TOKEN) >= {TOKEN, TOKEN.upper(), TOKEN[::-1]}
    # secured values (plain) are masked as they are, overlapping ones fully
    both = TextMasker([TOKEN], plain=[IBAN])
    assert both.mask(f"{IBAN}{TOKEN}") == MASK
    assert both.deep({"a": [IBAN, ("x", TOKEN)]}) == {"a": [MASK, ("x", MASK)]}


def doc_of(text: str) -> dict[str, Any]:
    """A definition's document, checked with a harmless action then given the old one."""
    return copy.deepcopy(parse_definition(text, "old.yaml").doc)


OLD = """
process: old
variables:
  iban: {type: string, security: finance}
  note: {type: string}
start: a
states:
  a:
    actions:
      - log: placeholder
"""


def old_doc(action: dict[str, Any]) -> dict[str, Any]:
    doc = doc_of(OLD)
    first = doc["states"]["a"]["actions"][0]
    doc["states"]["a"]["actions"][0] = {**first, **action}
    return doc


async def setup(open_engine: OpenEngine) -> tuple[Any, Any, Any]:
    root = await open_engine()
    await root.set_secret("api_token", TOKEN)
    await root.add_user("fin", licence="monitor")
    await root.add_user("ops", licence="monitor")
    await root.add_secspec("finance", users=["fin"])
    await open_engine.node(root)  # type: ignore[attr-defined]
    return root, await open_engine(user="fin"), await open_engine(user="ops")


async def start(root: Any, action: dict[str, Any]) -> int:
    await publish_unchecked(root, "old", old_doc(action))
    for login in ("fin", "ops"):
        await root.grant("old", login, view=True)
    instance_id = await root.start_process("old", {"iban": IBAN})
    await finished(root, instance_id)
    return int(instance_id)


def visible(detail: Any) -> str:
    return json.dumps(to_json(detail), default=str)


@pytest.mark.parametrize(
    "message",
    [
        "boom {{ secret.api_token }}",
        "boom {{ secret.api_token | upper }}",
        "boom {{ secret.api_token | reverse }}",
        "boom {{ secret.api_token | lower }}",
    ],
)
async def test_a_secret_in_a_raise_never_reaches_reason_history_or_the_store(
    open_engine: OpenEngine, db_url: str, data_dir: Path, message: str
) -> None:
    root, fin, _ops = await setup(open_engine)
    instance_id = await start(root, {"kind": "raise", "args": {"message": message}})
    detail = await root.instance_detail(instance_id)
    assert detail.instance.status == "error"
    assert detail.instance.reason == f"states.a.actions[0]: boom {MASK}"
    shown = visible(detail) + visible(await fin.instance_detail(instance_id))
    assert "boom ****" in shown
    for variant in secret_variants(TOKEN):
        assert variant not in shown
    cli = Cli(db_url, data_dir)
    outs = await asyncio.gather(
        cli("instance", "show", str(instance_id), "--json"), cli("instances", "--json")
    )
    for out in outs:
        assert not [v for v in secret_variants(TOKEN) if v in out.stdout], out.args
    dump = await store_dump(root, db_url, data_dir)
    assert not [v for v in secret_variants(TOKEN) if v.encode() in dump]


async def test_a_secret_assigned_to_a_variable_ends_the_instance_unassigned(
    open_engine: OpenEngine, db_url: str, data_dir: Path
) -> None:
    root, _fin, _ops = await setup(open_engine)
    action = {"kind": "assign", "args": {"values": {"note": "{{ secret.api_token }}"}}}
    instance_id = await start(root, action)
    detail = await root.instance_detail(instance_id)
    assert detail.instance.status == "error"
    assert detail.instance.reason == f"states.a.actions[0]: {SECRET_IN_VARIABLE}"
    assert detail.variables.get("note") is None
    found = await root.instances(limit=10)
    assert found[0].id == instance_id
    dump = await store_dump(root, db_url, data_dir)
    assert TOKEN.encode() not in dump


@pytest.mark.parametrize(
    "shown",
    ["secret.api_token | upper", "secret.api_token | reverse", "secret.api_token[3:]"],
)
async def test_a_transformed_secret_never_goes_on_a_command_line(
    open_engine: OpenEngine, shown: str
) -> None:
    root, _fin, _ops = await setup(open_engine)
    command = ["sh", "-c", "echo {{ " + shown + " }}"]
    action = {"kind": "run", "args": {"command": command, "shell": False, "cwd": None, "env": {}}}
    instance_id = await start(root, action)
    detail = await root.instance_detail(instance_id)
    assert detail.instance.status == "error"
    assert "a secret would appear on the command line" in (detail.instance.reason or "")
    assert (
        not (root.data_dir / "logs" / f"{instance_id}.log").exists()
        or TOKEN.upper() not in (root.data_dir / "logs" / f"{instance_id}.log").read_text()
    )


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ({"kind": "end_process", "args": {"outcome": "done {{ iban }}"}}, "completed"),
        ({"kind": "raise", "args": {"message": "bad {{ iban }}"}}, "error"),
        (
            {
                "kind": "run",
                "args": {"command": ["/nonexistent/{{ iban }}/pay"], "shell": False},
            },
            "error",
        ),
    ],
    ids=["end_process", "raise", "command-path"],
)
async def test_a_secured_value_in_reason_or_outcome_is_masked_outside_its_spec(
    open_engine: OpenEngine, db_url: str, data_dir: Path, action: dict[str, Any], status: str
) -> None:
    if action["kind"] == "run":
        action["args"].update(cwd=None, env={})
    root, fin, ops = await setup(open_engine)
    instance_id = await start(root, action)
    member = await fin.instance_detail(instance_id)
    assert member.instance.status == status
    assert IBAN in visible(member)  # the spec's member sees it
    for outsider in (ops, root):  # data security is not an admin right
        detail = await outsider.instance_detail(instance_id)
        assert IBAN not in visible(detail) and MASK in (detail.instance.reason or "")
        assert IBAN not in json.dumps([to_json(v) for v in await outsider.instances(limit=5)])
    cli = Cli(db_url, data_dir)
    shown, *outs = await asyncio.gather(
        cli("--as", "fin", "instance", "show", str(instance_id), "--json"),
        cli("--as", "ops", "instance", "show", str(instance_id)),
        cli("--as", "ops", "instance", "show", str(instance_id), "--json"),
        cli("--as", "ops", "instances", "--json"),
        cli("--as", "ops", "instances"),
    )
    assert IBAN in shown.stdout
    for out in outs:
        assert IBAN not in out.stdout and MASK in out.stdout, out.args
    # the spec removed: masked for everyone, its former members too (fail closed)
    await root.remove_secspec("finance")
    assert IBAN not in visible(await fin.instance_detail(instance_id))
    assert IBAN not in json.dumps([to_json(v) for v in await fin.instances(limit=5)])


CHILD = """
process: child
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - end_process: done
"""
PARENT = """
process: parent
variables:
  note: {type: string}
start: a
states:
  a:
    actions:
      - start_process: {process: child, vars: {iban: "DE00CHILD-MARK-0001"}, into: {note: iban}}
"""


async def test_a_childs_secured_output_never_lands_in_an_unsecured_variable(
    open_engine: OpenEngine, tmp_path: Path
) -> None:
    root, _fin, _ops = await setup(open_engine)
    for name, text in (("child", CHILD), ("parent", PARENT)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text.lstrip(), encoding="utf-8")
        await root.publish([path])  # the child's specs are not known when the parent is
    instance_id = await root.start_process("parent", {})
    row = await finished(root, instance_id, waiting=False)
    assert row["status"] == "error"
    assert row["reason"] == (
        "states.a.actions[0]: the child's iban is secured by 'finance': it may only flow "
        "into a variable secured by 'finance', and 'note' is not secured (nothing copied)"
    )
    assert (await root.instance_detail(instance_id)).variables.get("note") is None

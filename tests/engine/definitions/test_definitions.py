"""Process definitions: the DESIGN example normalises; every file in bad/ fails as it says.

Each ``bad/NN_name.yaml`` starts with one or more ``# expect: LINE:COL: PATH: SUBSTRING``
lines. Parsing it must raise DefinitionError whose issues are exactly the expected ones: the
same file basename, line, column and path, and a message containing the substring.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from switchyard.engine.definitions import (
    Definition,
    DefinitionError,
    Issue,
    Known,
    load_file,
    parse_definition,
)

HERE = Path(__file__).parent
GOOD = HERE / "good"
BAD = sorted((HERE / "bad").glob("*.yaml"))
EXPECT = re.compile(r"# expect: (\d+):(\d+): (\S+): (.+)$")
CORPUS_KNOWN = Known(
    lanes={"default", "batch"},
    secrets={"pay_token", "api_key"},
    workgroups={"managers", "finance"},
    users={"ann", "bob"},
    processes={"child-proc"},
    sql_connections={"erp"},
    secspecs={"finance-only"},
)
EXPENSE_KNOWN = Known(workgroups={"managers"}, secrets={"pay_token"}, secspecs={"finance-only"})
ACTION_KEYS = ["kind", "args", "retry", "idempotent", "timeout", "name", "path", "line"]


def _expectations(path: Path) -> list[tuple[int, int, str, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if not match:
            break
        found.append((int(match[1]), int(match[2]), match[3], match[4]))
    return found


def test_the_corpus_is_large_enough() -> None:
    assert len(BAD) >= 45
    assert all(_expectations(path) for path in BAD), "every bad file needs an expect line"


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_definition(path: Path) -> None:
    expected = _expectations(path)
    with pytest.raises(DefinitionError) as caught:
        load_file(path, CORPUS_KNOWN)
    issues = caught.value.issues
    shown = "\n".join(str(issue) for issue in issues)
    for line, col, where, text in expected:
        hits = [
            issue
            for issue in issues
            if os.path.basename(issue.file) == path.name
            and (issue.line, issue.col, issue.path) == (line, col, where)
            and text in issue.message
        ]
        assert len(hits) == 1, f"expected {line}:{col}: {where}: {text!r} in\n{shown}"
    assert len(issues) == len(expected), f"unexpected extra issues:\n{shown}"
    assert all(issue.severity == "error" for issue in issues)
    assert str(caught.value) == shown


def test_multi_error_file_reports_everything() -> None:
    path = HERE / "bad" / "66_multi_error.yaml"
    with pytest.raises(DefinitionError) as caught:
        load_file(path, CORPUS_KNOWN)
    assert len(caught.value.issues) == len(_expectations(path)) >= 12
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.issues)
    assert [i.line for i in caught.value.issues] == sorted(i.line for i in caught.value.issues)


def _expense(known: Known) -> Definition:
    return load_file(GOOD / "expense-approval.yaml", known)


@pytest.mark.parametrize("known", [EXPENSE_KNOWN, Known()], ids=["checked", "unchecked"])
def test_design_example_validates(known: Known) -> None:
    definition = _expense(known)
    assert definition.name == "expense-approval"
    assert definition.warnings == []
    assert definition.filename.endswith("expense-approval.yaml")
    source = (GOOD / "expense-approval.yaml").read_text(encoding="utf-8")
    assert definition.source == source
    import hashlib

    assert definition.digest == hashlib.sha256(source.encode()).hexdigest()
    assert json.loads(json.dumps(definition.doc)) == definition.doc


def test_design_example_normalises() -> None:
    doc = _expense(EXPENSE_KNOWN).doc
    assert list(doc) == [
        "process",
        "description",
        "lane",
        "variables",
        "start",
        "states",
        "tasks",
        "forms",
    ]
    assert doc["process"] == "expense-approval"
    assert doc["start"] == "submit"
    assert doc["lane"] is None and doc["description"] is None and doc["tasks"] == {}
    assert doc["variables"] == {
        "employee": _spec("string", required=True),
        "amount": _spec("decimal", required=True),
        "iban": _spec("string", security="finance-only"),
        "decision": _spec("string", report=True),
    }
    submit = doc["states"]["submit"]
    assert submit["line"] == 9
    branch, change = submit["actions"]
    assert list(branch) == ACTION_KEYS
    assert branch["kind"] == "if" and branch["path"] == "states.submit.actions[0]"
    assert branch["line"] == 11
    assert branch["args"]["cond"] == "amount > 1000"
    (send,) = branch["args"]["then"]
    assert send == {
        "kind": "send_work_item",
        "args": {
            "form": "approve",
            "to": {"workgroup": "managers"},
            "due": 172800.0,
            "priority": 3,
            "reminders": [],
            "escalate": None,
        },
        "retry": None,
        "idempotent": False,
        "timeout": None,
        "name": None,
        "path": "states.submit.actions[0].then[0]",
        "line": 13,
    }
    (auto,) = branch["args"]["else"]
    assert auto["args"] == {"values": {"decision": "auto-approved"}}
    assert auto["path"] == "states.submit.actions[0].else[0]"
    assert change["args"] == {"state": "pay"} and change["line"] == 16
    run, end = doc["states"]["pay"]["actions"]
    assert run["kind"] == "run"
    assert run["args"] == {
        "command": ["/opt/pay/bin/pay", "--employee", "{{ employee }}"],
        "shell": False,
        "cwd": None,
        "env": {"PAY_TOKEN": "{{ secret.pay_token }}"},
    }
    assert run["timeout"] == 300.0  # lifted out of run's args
    assert end["args"] == {"outcome": "paid"}
    form = doc["forms"]["approve"]
    assert [f["name"] for f in form["fields"]] == ["employee", "amount", "note"]
    assert form["fields"][1]["type"] == "decimal" and form["fields"][1]["variable"] is True
    assert form["fields"][2] == {
        "name": "note",
        "type": "text",
        "label": "Note",
        "multiline": True,
        "required": False,
        "choices": None,
        "min": None,
        "max": None,
        "pattern": None,
        "readonly": False,
        "variable": False,
    }
    assert list(form["buttons"]) == ["Approve", "Deny"]
    deny = form["buttons"]["Deny"]
    assert [(a["kind"], a["args"]) for a in deny] == [
        ("assign", {"values": {"decision": "denied"}}),
        ("end_process", {"outcome": "denied"}),
    ]
    assert deny[1]["path"] == "forms.approve.buttons.Deny[1]"


def _spec(type_name: str, **kw: Any) -> dict[str, Any]:
    spec = {"type": type_name, "required": False, "default": None, "security": None}
    spec["report"] = False
    spec.update(kw)
    return spec


def test_design_example_against_wrong_names() -> None:
    known = Known(workgroups={"mgrs"}, secrets={"other"}, secspecs=set())
    with pytest.raises(DefinitionError) as caught:
        _expense(known)
    messages = [(i.path, i.message.split(" (")[0]) for i in caught.value.issues]
    assert messages == [
        ("variables.iban.security", "unknown security spec 'finance-only'"),
        ("states.submit.actions[0].then[0].send_work_item.to", "unknown workgroup 'managers'"),
        ("states.pay.actions[0].run.env.PAY_TOKEN", "unknown secret 'pay_token'"),
    ]


def test_unreachable_state_is_a_warning() -> None:
    text = """\
process: w
start: a
states:
  a:
    actions: [send_work_item: {form: f, to: {user: ann}}]
  b:
    actions: [end_process: done]
  orphan:
    actions: [change_state: b]
forms:
  f:
    fields: []
    buttons: {Go: [change_state: b]}
"""
    definition = parse_definition(text, "w.yaml")
    assert definition.warnings == [
        Issue(
            "w.yaml",
            8,
            3,
            "states.orphan",
            "state 'orphan' is never reached from start 'a'",
            "warning",
        )
    ]
    assert str(definition.warnings[0]) == (
        "w.yaml:8:3: states.orphan: warning: state 'orphan' is never reached from start 'a'"
    )


def test_issue_and_error_strings() -> None:
    issue = Issue(
        "exp.yaml", 14, 9, "states.review.actions[2].send_work_item.to", "unknown workgroup 'mgrs'"
    )
    assert (
        str(issue)
        == "exp.yaml:14:9: states.review.actions[2].send_work_item.to: unknown workgroup 'mgrs'"
    )
    error = DefinitionError([issue, issue])
    assert str(error) == f"{issue}\n{issue}"


def test_kitchen_sink_normalises() -> None:
    known = Known(
        lanes={"batch"},
        secrets={"api_key"},
        workgroups={"managers"},
        processes={"child-proc"},
        sql_connections={"erp"},
    )
    definition = load_file(GOOD / "kitchen-sink.yaml", known)
    doc = definition.doc
    assert json.loads(json.dumps(doc)) == doc
    assert definition.warnings == []
    variables = doc["variables"]
    assert variables["amount"]["default"] == "12.5"
    assert variables["due"]["default"] == "2024-03-31"
    assert variables["at"] == _spec("datetime")
    acts = {a["path"].rsplit(".", 1)[-1]: a for a in doc["states"]["begin"]["actions"]}
    by_index = doc["states"]["begin"]["actions"]
    assert acts["actions[0]"]["args"]["values"] == {
        "count": "{{ count + 1 }}",
        "amount": "99.95",
        "due": "2024-04-01",
        "ok": True,
    }
    assert acts["actions[0]"]["name"] == "bump"
    switch = by_index[1]["args"]
    assert switch["on"] == "who" and [c["value"] for c in switch["cases"]] == ["ann", 1]
    loop = by_index[2]["args"]
    assert {k: v for k, v in loop.items() if k != "do"} == {
        "for_each": "items",
        "as": "item",
        "while": None,
        "max": 50,
    }
    assert by_index[3]["args"]["max"] == 1000 and by_index[3]["args"]["while"] == "count < 3"
    parallel = by_index[4]["args"]
    assert parallel["join"] == "first"
    assert [b["when"] for b in parallel["branches"]] == [None, "ok"]
    assert parallel["branches"][1]["actions"][0]["path"].endswith("parallel.branches[1].do[0]")
    assert by_index[5]["args"] == {
        "task": "total",
        "with": {"base": 5},
        "into": {"amount": "result"},
    }
    assert by_index[6]["args"] == {"task": "noop", "with": {}, "into": {}}
    assert by_index[7]["args"] == {
        "process": "kitchen-sink",
        "version": None,
        "vars": {"who": "{{ who }}"},
        "wait": False,
        "into": {},
    }
    assert by_index[8]["args"]["version"] == 2 and by_index[8]["args"]["into"] == {"payload": "out"}
    assert by_index[9]["args"] == {
        "for": 90.0,
        "until": None,
        "condition": None,
        "every": 30.0,
        "timeout": None,
    }
    assert by_index[10]["args"]["until"] == "2030-01-01T09:00:00+00:00"
    assert by_index[11]["args"]["every"] == 60.0 and by_index[11]["args"]["timeout"] == 3600.0
    run = by_index[12]
    assert run["args"]["command"] == ["echo", "hello world", "{{ who }}"]
    assert run["args"]["env"] == {"N": "5"} and run["args"]["cwd"] == "/tmp"
    assert run["retry"] == {"attempts": 3, "backoff": 10.0} and run["idempotent"] is True
    shell = by_index[13]
    assert shell["args"]["command"] == "ls | wc -l" and shell["args"]["shell"] is True
    assert shell["timeout"] == 30.0 and shell["retry"] == {"attempts": 2, "backoff": 0.0}
    http = by_index[14]["args"]
    assert http["method"] == "POST" and http["expect"] == [200, 201]
    assert http["json"] == {"n": "{{ count }}", "tags": ["x", "y"]} and http["body"] is None
    assert http["verify"] is True and http["ca_bundle"] is None
    assert http["into"] == {"payload": "response.json", "count": "response.status"}
    assert by_index[15]["args"] == {
        "connection": "erp",
        "query": "select total from orders where who = :who",
        "params": {"who": "{{ who }}"},
        "into": "payload",
        "one": True,
    }
    assert by_index[16]["args"] == {
        "to": ["{{ who }}@example.com"],
        "cc": [],
        "subject": "Hi",
        "body": "Count {{ count }}",
        "attachments": ["/tmp/r.pdf"],
        "from": None,
    }
    work = by_index[17]["args"]
    assert work["to"] == {"user": "{{ who }}"} and work["priority"] == 1
    assert work["due"] == 86400.0 and work["reminders"] == [14400.0, 28800.0]
    assert work["escalate"]["after"] == 172800.0
    assert work["escalate"]["to"] == {"workgroup": "managers"}
    assert [a["kind"] for a in work["escalate"]["actions"]] == ["log", "change_state"]
    assert by_index[18]["args"]["then"][0]["args"] == {"message": "too many: {{ count }}"}
    assert doc["states"]["done"]["actions"][0]["args"] == {"outcome": None}
    task = doc["tasks"]["total"]
    assert list(task) == ["inputs", "outputs", "variables", "actions", "line"]
    assert task["inputs"]["base"]["required"] is True
    fields = {f["name"]: f for f in doc["forms"]["review"]["fields"]}
    assert fields["ok"]["type"] == "checkbox"
    assert fields["colour"]["choices"] == ["red", "green"] and fields["colour"]["required"]
    assert fields["qty"]["min"] == 1 and fields["qty"]["max"] == 10
    assert fields["when"]["min"] == "2024-01-01"
    assert fields["code"]["pattern"] == "^[A-Z]{3}$" and fields["code"]["label"] == "Code"


def test_known_none_skips_outside_checks() -> None:
    definition = load_file(GOOD / "kitchen-sink.yaml", Known())
    assert definition.name == "kitchen-sink"


def test_a_process_may_start_itself_even_when_processes_are_checked() -> None:
    text = """\
process: again
start: a
states:
  a:
    actions: [start_process: {process: again, wait: false}]
"""
    assert parse_definition(text, "x.yaml", Known(processes=set())).name == "again"


def test_yaml_merge_keys_and_anchors() -> None:
    text = """\
process: anchors
variables:
  base: &spec {type: integer, default: 1}
  other: {<<: *spec, required: true}
start: a
states:
  a:
    actions: [log: hi]
"""
    doc = parse_definition(text, "x.yaml").doc
    assert doc["variables"]["other"] == _spec("integer", required=True, default=1)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"process: \xff\n")
    with pytest.raises(DefinitionError) as caught:
        load_file(path)
    assert caught.value.issues[0].path == "(file)"

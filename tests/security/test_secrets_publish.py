"""Publishing refuses every flow of a secret or a secured value into text that leaves
(engine/definitions/flow.py): each leak found in issue 11 is a `file:line:col: path:
message` refusal here, and the legal sinks publish."""

from __future__ import annotations

import textwrap

import pytest
from switchyard.engine.definitions import DefinitionError, parse_definition

HEAD = """
process: leak
variables:
  iban:  {type: string, security: finance}
  iban2: {type: string, security: finance}
  other: {type: string, security: payroll}
  note:  {type: string}
  ibans: {type: list, security: finance}
  n:     {type: integer}
start: a
tasks:
  t:
    inputs:
      plain: {type: string}
      safe: {type: string, security: finance}
    outputs:
      out: {type: string, security: finance}
    actions:
      - assign: {out: "{{ safe }}"}
states:
  a:
    actions:
"""
SECRET_ONLY = "may only be used in run env and http headers, as a plain {{ secret.NAME }}"
NOT_SHOWN = "(that text is shown to people outside the spec)"


def refusals(action: str) -> list[str]:
    """The issues of HEAD plus one action (at line 22), without the file name."""
    text = textwrap.dedent(HEAD).lstrip() + "      " + action + "\n"
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "leak.yaml")
    return [str(issue) for issue in caught.value.issues]


def publishes(action: str) -> None:
    parse_definition(textwrap.dedent(HEAD).lstrip() + "      " + action + "\n", "leak.yaml")


P = "states.a.actions[0]"
LEAKS = [
    # secured values into text that leaves (issue 11: outcome, reason, command path)
    (
        '- end_process: "done {{ iban }}"',
        f"leak.yaml:22:22: {P}.end_process: iban is secured by 'finance': end_process may "
        f"not read it {NOT_SHOWN}",
    ),
    (
        '- raise: "bad {{ iban }}"',
        f"leak.yaml:22:16: {P}.raise: iban is secured by 'finance': raise may not read it "
        f"{NOT_SHOWN}",
    ),
    (
        '- log: "paying {{ iban }}"',
        f"leak.yaml:22:14: {P}.log: iban is secured by 'finance': log may not read it {NOT_SHOWN}",
    ),
    (
        '- run: {command: ["/opt/pay/{{ iban }}/bin"]}',
        f"leak.yaml:22:25: {P}.run.command[0]: iban is secured by 'finance': run.command may "
        f"not read it {NOT_SHOWN}",
    ),
    (
        '- run: {command: "pay {{ iban }}"}',
        f"leak.yaml:22:24: {P}.run.command: iban is secured by 'finance': run.command may "
        f"not read it {NOT_SHOWN}",
    ),
    (
        '- http: {url: "https://bank.example/{{ iban }}"}',
        f"leak.yaml:22:21: {P}.http.url: iban is secured by 'finance': http.url may not read "
        f"it {NOT_SHOWN}",
    ),
    (
        '- email: {to: "a@example.com", subject: "pay", body: "to {{ iban }}"}',
        f"leak.yaml:22:60: {P}.email.body: iban is secured by 'finance': email.body may not "
        f"read it {NOT_SHOWN}",
    ),
    (
        '- start_process: {process: leak, vars: {note: "{{ iban }}"}}',
        f"leak.yaml:22:53: {P}.start_process.vars.note: iban is secured by 'finance': "
        f"start_process.vars may not read it {NOT_SHOWN}",
    ),
    # a derived variable: iban into an unsecured (or differently secured) variable
    (
        '- assign: {note: "iban is {{ iban }}"}',
        f"leak.yaml:22:24: {P}.assign.note: iban is secured by 'finance': it may only flow "
        "into a variable secured by 'finance', and 'note' is not secured",
    ),
    (
        '- assign: {other: "{{ iban | upper }}"}',
        f"leak.yaml:22:25: {P}.assign.other: iban is secured by 'finance': it may only flow "
        "into a variable secured by 'finance', and 'other' is secured by 'payroll'",
    ),
    (
        '- loop: {for_each: ibans, as: i, do: [log: "{{ i }}"]}',
        f"leak.yaml:22:50: {P}.loop.do[0].log: i is secured by 'finance': log may not read "
        f"it {NOT_SHOWN}",
    ),
    (
        '- call: {task: t, with: {plain: "{{ iban }}", safe: "{{ iban }}"}}',
        f"leak.yaml:22:39: {P}.call.with.plain: iban is secured by 'finance': it may only "
        "flow into a task input secured by 'finance', and 'plain' is not secured",
    ),
    (
        "- call: {task: t, with: {safe: x}, into: {note: out}}",
        f"leak.yaml:22:48: {P}.call.into: output out is secured by 'finance': it may only "
        "flow into a variable secured by 'finance', and 'note' is not secured",
    ),
    (
        '- http: {url: "https://x.example", json: {a: "{{ iban }}"}, into: {note: response}}',
        f"leak.yaml:22:48: {P}.http.json: iban is secured by 'finance': it may only flow into "
        "a variable secured by 'finance', and 'note' is not secured",
    ),
    (
        '- sql: {connection: erp, query: "select 1", params: {a: "{{ iban }}"}, into: note}',
        f"leak.yaml:22:63: {P}.sql.params.a: iban is secured by 'finance': it may only flow "
        "into a variable secured by 'finance', and 'note' is not secured",
    ),
    # secrets: only a plain {{ secret.NAME }} in run env / http headers
    (
        '- raise: "boom {{ secret.api_token }}"',
        f"leak.yaml:22:16: {P}.raise: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- assign: {note: "{{ secret.api_token }}"}',
        f"leak.yaml:22:24: {P}.assign.note: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- log: "{{ secret.api_token }}"',
        f"leak.yaml:22:14: {P}.log: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- end_process: "{{ secret.api_token }}"',
        f"leak.yaml:22:22: {P}.end_process: secret.api_token {SECRET_ONLY}",
    ),
    (
        "- if: \"secret.api_token == 'x'\"\n        then: [log: yes]",
        f"leak.yaml:22:13: {P}.if: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- run: {command: ["curl", "-u", "{{ secret.api_token }}"]}',
        f"leak.yaml:22:39: {P}.run.command[2]: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- run: {command: [env], env: {T: "{{ secret.api_token | upper }}"}}',
        f"leak.yaml:22:40: {P}.run.env.T: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- run: {command: [env], env: {T: "{{ secret.api_token | reverse }}"}}',
        f"leak.yaml:22:40: {P}.run.env.T: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- run: {command: [env], env: {T: "{{ secret.api_token[2:] }}"}}',
        f"leak.yaml:22:40: {P}.run.env.T: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- run: {command: [env], env: {T: "{{ secret.api_token ~ n }}"}}',
        f"leak.yaml:22:40: {P}.run.env.T: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- run: {command: [env], env: {T: "{{ secret }}"}}',
        f"leak.yaml:22:40: {P}.run.env.T: secret {SECRET_ONLY}",
    ),
    (
        '- http: {url: "https://x.example/?k={{ secret.api_token }}"}',
        f"leak.yaml:22:21: {P}.http.url: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- http: {url: "https://x.example", body: "{{ secret.api_token }}"}',
        f"leak.yaml:22:48: {P}.http.body: secret.api_token {SECRET_ONLY}",
    ),
    (
        '- send_work_item: {form: f, to: {user: "{{ secret.api_token }}"}}',
        f"leak.yaml:22:46: {P}.send_work_item.to.user: secret.api_token {SECRET_ONLY}",
    ),
]


@pytest.mark.parametrize(("action", "expected"), LEAKS, ids=[a for a, _ in LEAKS])
def test_a_leak_is_refused_at_publish(action: str, expected: str) -> None:
    assert expected in refusals(action)


LEGAL = [
    '- run: {command: [/bin/pay], env: {T: "{{ secret.api_token }}", I: "{{ iban }}"}}',
    "- run: {command: [/bin/pay], env: {T: \"{{ secret['api_token'] }}\"}}",
    '- http: {url: "https://x.example", headers: {Authorization: "Bearer {{ secret.api_token }}"}}',
    '- http: {url: "https://x.example", json: {a: "{{ iban }}"}, into: {iban2: response}}',
    '- http: {url: "https://x.example", json: {a: "{{ iban }}"}}',
    '- sql: {connection: erp, query: "insert", params: {a: "{{ iban }}"}}',
    '- assign: {iban2: "{{ iban | upper }}"}',
    "- if: \"iban.startswith('DE')\"\n        then: [log: german account]",
    "- switch: iban\n        cases: {x: [log: x]}",
    '- loop: {for_each: ibans, as: i, do: [assign: {iban2: "{{ i }}"}]}',
    '- call: {task: t, with: {safe: "{{ iban }}"}, into: {iban2: out}}',
    "- wait: {condition: \"iban == 'x'\", every: 1m}",
]


@pytest.mark.parametrize("action", LEGAL)
def test_the_sinks_that_never_show_a_value_publish(action: str) -> None:
    publishes(action)


def test_every_refusal_is_one_line_with_its_position() -> None:
    issues = refusals('- raise: "{{ iban }} {{ secret.api_token }} {{ other }}"')
    assert len(issues) == 3
    assert all(i.startswith(f"leak.yaml:22:16: {P}.raise: ") for i in issues)
    assert all("\n" not in i for i in issues)


BUTTON = """
process: leak
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - send_work_item: {form: f, to: {user: ann}}
forms:
  f:
    fields: [iban]
    buttons:
      OK: [log: "approved {{ iban }}"]
"""


def test_a_secured_value_in_a_form_button_is_checked_too() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(BUTTON.lstrip(), "leak.yaml")
    assert [str(i) for i in caught.value.issues] == [
        "leak.yaml:13:17: forms.f.buttons.OK[0].log: iban is secured by 'finance': log may "
        f"not read it {NOT_SHOWN}"
    ]

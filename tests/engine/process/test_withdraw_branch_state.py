"""Issue 16 defect 5: ``change_state`` inside a parallel branch would end its sibling
branches as a side effect; it is refused at publish with ``file:line:col`` (also through a
form button of a work item sent in a branch). ``end_process`` in a branch stays allowed:
it ends the whole instance, and the end hook ends everything the siblings left open."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine.process.helpers import publish
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError

RULE = "change_state is not allowed inside a parallel branch"

IN_BRANCH = """
process: jumper
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {for: 1h}
            - - if: "true"
                then:
                  - change_state: t
  t:
    actions:
      - log: here
"""

VIA_BUTTON = """
process: asker
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - send_work_item: {form: answer, to: {user: bob}}
            - - wait: {for: 1h}
  t:
    actions:
      - log: here
forms:
  answer:
    fields: [{name: reply, type: text}]
    buttons:
      Ok: [change_state: t]
"""

ALLOWED = """
process: fine
start: s
states:
  s:
    actions:
      - parallel:
          branches:
            - - wait: {for: 1h}
            - - end_process: early
      - change_state: t
  t:
    actions:
      - send_work_item: {form: answer, to: {user: bob}}
forms:
  answer:
    fields: [{name: reply, type: text}]
    buttons:
      Ok: [change_state: s]
"""


async def test_change_state_in_a_branch_is_refused_at_publish_with_its_position(
    engine: Engine, tmp_path: Path
) -> None:
    with pytest.raises(DefinitionError) as caught:
        await publish(engine, tmp_path, IN_BRANCH)
    (issue,) = caught.value.issues
    assert (issue.line, issue.col) == (11, 21)
    assert issue.path == "states.s.actions[0].parallel.branches[1][0].then[0]"
    assert RULE in issue.message and "after the join" in issue.message
    assert str(issue).startswith(f"{tmp_path / 'p.yaml'}:11:21: ")
    assert await engine.processes() == []


async def test_a_form_button_changing_state_is_refused_for_an_item_sent_in_a_branch(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    with pytest.raises(DefinitionError) as caught:
        await publish(engine, tmp_path, VIA_BUTTON)
    (issue,) = caught.value.issues
    assert (issue.line, issue.col) == (8, 17)
    assert RULE in issue.message and "'answer'" in issue.message and "'Ok'" in issue.message


async def test_end_process_in_a_branch_and_change_state_after_the_join_are_allowed(
    engine: Engine, tmp_path: Path
) -> None:
    await engine.add_user("bob", licence="direct")
    assert await publish(engine, tmp_path, ALLOWED)

"""Every action kind by its YAML key. Adding a kind: one module, one line here."""

from __future__ import annotations

from switchyard.engine.actions.assign import AssignAction
from switchyard.engine.actions.base import Action
from switchyard.engine.actions.call import CallAction
from switchyard.engine.actions.conditional import IfAction, SwitchAction
from switchyard.engine.actions.email import EmailAction
from switchyard.engine.actions.flow import ChangeStateAction, EndProcessAction, RaiseAction
from switchyard.engine.actions.http import HttpAction
from switchyard.engine.actions.log import LogAction
from switchyard.engine.actions.loop import LoopAction
from switchyard.engine.actions.milestone import MilestoneAction
from switchyard.engine.actions.parallel import ParallelAction
from switchyard.engine.actions.run import RunAction
from switchyard.engine.actions.sql import SqlAction
from switchyard.engine.actions.subprocess import StartProcessAction
from switchyard.engine.actions.wait import WaitAction
from switchyard.engine.actions.workitem import SendWorkItemAction

_ALL: list[Action] = [
    AssignAction(),
    IfAction(),
    SwitchAction(),
    LoopAction(),
    ParallelAction(),
    CallAction(),
    StartProcessAction(),
    WaitAction(),
    RunAction(),
    LogAction(),
    ChangeStateAction(),
    EndProcessAction(),
    RaiseAction(),
    SendWorkItemAction(),
    HttpAction(),
    SqlAction(),
    EmailAction(),
    MilestoneAction(),
]
ACTIONS: dict[str, Action] = {action.kind: action for action in _ALL}

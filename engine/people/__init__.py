"""People: identity, users, groups, licences, rights per process, security specifications,
the audit log, the rule every engine operation is checked against, and masking."""

from switchyard.engine.errors import Refused
from switchyard.engine.people.identity import Access, Identity
from switchyard.engine.people.masking import MASK, Masker

__all__ = ["MASK", "Access", "Identity", "Masker", "Refused"]

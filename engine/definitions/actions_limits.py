"""Bounds of the action grammar, shared by actions.py and fan.py."""

LOOP_LIMIT = 100_000  # the most passes / items a loop may have (its ``max``)
LOOP_DEFAULT = 1000

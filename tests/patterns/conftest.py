"""The workflow patterns suite runs on the engine's fixtures (a real node per test, both
backends): they are re-exported from tests/engine/conftest.py."""

from engine.conftest import clock, engine, gates, open_engine, runtime  # noqa: F401

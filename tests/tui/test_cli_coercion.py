"""tui/cli/coercion.py returns an option's value without typer's pydantic adapter only
when the adapter would return that same value: checked against the adapter itself."""

from __future__ import annotations

from typing import Any

import pytest
from switchyard.tui.cli import coercion
from typer._coercion import build_runtime_param, resolve_type_descriptor
from typer.models import OptionInfo

VALUES: list[Any] = [
    "", "0", "7", "0100", "123456789012345678", "1234567890123456789012", "-5", "+5", " 7",
    "7 ", "1_000", "x", "1.0", "\u0663", "\u00b2", "true", "no", 0, 7, -3, True, False, 1.5,
]  # fmt: skip


def adapter(annotation: type, value: Any) -> tuple[str, Any]:
    """What typer's own coercion makes of ``value``: ("ok", value) or ("error", message)."""
    param = build_runtime_param(resolve_type_descriptor(annotation, OptionInfo()))
    try:
        return "ok", param._coerce_value(value, param=None, ctx=None)  # type: ignore[arg-type]
    except Exception as exc:
        return "error", str(exc)


@pytest.mark.parametrize("annotation", [str, int, bool])
def test_the_fast_path_returns_what_the_adapter_returns(annotation: type) -> None:
    taken = 0
    for value in VALUES:
        fast = coercion.plain_value(annotation, value)
        if fast is coercion._SAME:
            continue  # left to the adapter
        taken += 1
        kind, expected = adapter(annotation, value)
        assert kind == "ok", (annotation, value, expected)
        assert fast == expected and type(fast) is type(expected), (annotation, value, expected)
    assert taken  # the fast path is used at all


def test_install_keeps_typers_refusals() -> None:
    assert coercion.install()
    assert coercion.install()  # twice: once only
    from switchyard.tui.cli.registry import cli
    from typer.testing import CliRunner

    runner = CliRunner()
    out = runner.invoke(cli, ["instances", "--limit", "x"])
    assert out.exit_code == 2
    assert "limit: Input should be a valid integer" in out.output

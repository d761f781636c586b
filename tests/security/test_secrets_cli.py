"""`secret set` refuses a value shorter than 8 characters (a 2-character secret shredded
every log line and revealed itself by what got masked) and one holding a NUL: exit 2, one
line on stderr, nothing stored. `process publish` of a leaking definition: exit 1 (as for every definition error), the
`file:line:col: path: message` line, nothing published."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from security._secrets_helpers import Cli, OpenEngine, open_engine

__all__ = ["open_engine"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ab", "error: value: a secret needs at least 8 characters (got 2)"),
        ("1234567", "error: value: a secret needs at least 8 characters (got 7)"),
        ("long-enough\0tail", "error: value: a secret may not contain a NUL character"),
        ("", "error: value: empty secret (pipe the value on standard input)"),
    ],
    ids=["two", "seven", "nul", "empty"],
)
async def test_secret_set_refuses_short_and_nul_values(
    open_engine: OpenEngine, db_url: str, data_dir: Path, value: str, message: str
) -> None:
    root = await open_engine()  # the store and its first admin
    cli = Cli(db_url, data_dir)
    refused = await cli("secret", "set", "api_token", input=value, expect=2)
    assert refused.stderr.splitlines() == [message]
    assert value not in refused.stdout + refused.stderr or not value
    assert await root.secrets() == []
    await cli("secret", "set", "api_token", input="eight-ok")  # 8 characters: accepted
    assert [s.key for s in await root.secrets()] == ["api_token"]


LEAKY = """\
process: leaky
variables:
  iban: {type: string, security: finance}
start: a
states:
  a:
    actions:
      - raise: "boom {{ secret.api_token }}"
      - end_process: "done {{ iban }}"
"""


async def test_publishing_a_leak_fails_naming_each_place(
    open_engine: OpenEngine, db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    root = await open_engine()
    await root.add_secspec("finance", users=[root.login])
    await root.set_secret("api_token", "tok-12345678")
    path = tmp_path / "leaky.yaml"
    path.write_text(LEAKY, encoding="utf-8")
    cli = Cli(db_url, data_dir)
    published, validated = await asyncio.gather(
        cli("process", "publish", str(path), expect=2),
        cli("process", "validate", str(path), expect=2),
    )
    for proc in (published, validated):
        assert proc.stderr.splitlines()[:2] == [
            f"{path}:8:16: states.a.actions[0].raise: secret.api_token may only be used in run "
            "env and http headers, as a plain {{ secret.NAME }}",
            f"{path}:9:22: states.a.actions[1].end_process: iban is secured by 'finance': "
            "end_process may not read it (that text is shown to people outside the spec)",
        ]
    assert "nothing published" in published.stderr
    assert await root.processes() == []

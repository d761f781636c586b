"""Attacks on input bounds (issue 11, sections 5 and 6) that the first round missed: each
is refused with one ``file:line:col`` line or a one-line error, exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError, load_file
from switchyard.engine.sandbox.expressions import ExpressionError, Sandbox

from ._bounds_helpers import cli

TAIL = "start: a\nstates:\n  a:\n    actions:\n      - end_process: done\n"
DIGITS = "1" * 5000  # past Python's 4300-digit limit of int(str)


def _files(tmp_path: Path) -> dict[str, Path]:
    texts = {
        # a hex literal has no digit limit: the int is built, then repr() of it fails
        "hex": f"process: hex\nvariables:\n  n: {{type: integer, default: 0x{'f' * 5000}}}\n"
        + TAIL,
        # the Jinja lexer calls int() on the literal
        "literal": "process: lit\nvariables:\n  n: {type: integer}\nstart: a\nstates:\n"
        f"  a:\n    actions:\n      - assign: {{n: '{{{{ {DIGITS} }}}}'}}\n",
        "condition": "process: cond\nstart: a\nstates:\n  a:\n    actions:\n"
        f"      - if: '{DIGITS} > 1'\n        then: [end_process: big]\n",
    }
    out = {}
    for name, text in texts.items():
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(text)
    return out


@pytest.mark.parametrize("name", ["hex", "literal", "condition"])
def test_huge_integer_literals_are_definition_errors(tmp_path: Path, name: str) -> None:
    path = _files(tmp_path)[name]
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    (issue,) = info.value.issues
    assert str(issue).startswith(f"{path}:")
    assert len(str(issue)) < 300  # the value is not quoted whole


def test_a_huge_literal_in_a_sandbox_expression_is_an_expression_error() -> None:
    sandbox = Sandbox()
    with pytest.raises(ExpressionError, match="number literal too long"):
        sandbox.evaluate(f"{DIGITS} + 1", {})
    with pytest.raises(ExpressionError, match="number literal too long"):
        sandbox.render(f"x {{{{ {DIGITS} }}}}", {})
    # a ValueError while evaluating keeps its own message
    with pytest.raises(ExpressionError, match="invalid literal"):
        sandbox.evaluate("int('x')", {})


@pytest.mark.timeout(60)
async def test_process_validate_of_huge_integers_exits_2_in_one_line(
    sqlite_url: str, data_dir: Path, tmp_path: Path
) -> None:
    engine = await Engine.open(sqlite_url, data_dir=data_dir)
    await engine.close()
    for path in _files(tmp_path).values():
        proc = cli(sqlite_url, data_dir, "process", "validate", str(path))
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "internal" not in proc.stderr
        assert proc.stderr.startswith(f"{path}:"), proc.stderr


HUGE_DECIMAL = "1e999999999"  # a short string; formatted with {:f}, a billion digits


def test_formatting_a_decimal_with_a_huge_exponent_is_refused_before_it_is_built() -> None:
    import tracemalloc
    from decimal import Decimal

    sandbox = Sandbox()
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match="too large"):
            sandbox.evaluate('"{:f}".format(d)', {"d": Decimal("1e9999999")})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # the 10-million-digit string was never made


def test_a_decimal_default_with_a_huge_exponent_is_a_definition_error(tmp_path: Path) -> None:
    path = tmp_path / "dec.yaml"
    path.write_text(
        f"process: dec\nvariables:\n  d: {{type: decimal, default: {HUGE_DECIMAL}}}\n" + TAIL
    )
    with pytest.raises(DefinitionError, match="exponent within"):
        load_file(path)


@pytest.mark.timeout(60)
async def test_start_refuses_a_decimal_with_a_huge_exponent_or_not_a_number(
    sqlite_url: str, data_dir: Path, tmp_path: Path
) -> None:
    engine = await Engine.open(sqlite_url, data_dir=data_dir)
    path = tmp_path / "dec.yaml"
    path.write_text("process: dec\nvariables:\n  d: {type: decimal}\n" + TAIL)
    await engine.publish([path])
    await engine.close()
    for value in (HUGE_DECIMAL, "NaN", "sNaN", "-Infinity"):
        proc = cli(sqlite_url, data_dir, "start", "dec", "--var", f"d={value}")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: var: var d: not a finite decimal"), proc.stderr
    proc = cli(sqlite_url, data_dir, "instances", "--json")
    assert proc.stdout.strip() == "[]"  # nothing was started


REDOS_FORM = (
    "process: redos\nvariables:\n  t: {type: string}\nstart: a\nstates:\n  a:\n"
    "    actions:\n      - send_work_item: {form: f, to: {user: fin}}\nforms:\n  f:\n"
    "    fields:\n      - {name: t, type: text, pattern: PATTERN}\n"
    "    buttons:\n      Done: [end_process: ok]\n"
)


@pytest.mark.timeout(30)
def test_a_form_pattern_with_nested_repetition_is_refused(tmp_path: Path) -> None:
    """'(a+)+$' against 40 a's and a '!' backtracked for hours in re.fullmatch where the
    item is completed (the console's embedded node shares its event loop). Patterns are
    now matched by the `regex` package: that one is answered at once, and one it still
    backtracks on ('(a|aa)+$') stops after a bounded time, refusing the field."""
    from switchyard.engine.workitems.forms import FormInvalid, check

    path = tmp_path / "redos.yaml"
    for pattern in ("(a+)+$", "(a|aa)+$"):
        path.write_text(REDOS_FORM.replace("PATTERN", f"'{pattern}'"))
        fields = load_file(path).doc["forms"]["f"]["fields"]
        with pytest.raises(FormInvalid) as caught:
            check(fields, {"t": "a" * 40 + "!"})
        assert str(caught.value) in (
            f"field t: does not match the pattern {pattern}",
            "field t: the pattern took too long to check",
        )
        assert check(fields, {"t": "aaa"}) == {"t": "aaa"}  # a matching value still passes
    assert str(caught.value) == "field t: the pattern took too long to check"


def test_a_form_pattern_too_long_or_not_compiling_is_a_definition_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(REDOS_FORM.replace("PATTERN", "'" + "a" * 501 + "'"))
    with pytest.raises(DefinitionError, match=r"12:\d+: .*pattern is 501 characters, at most 500"):
        load_file(path)
    path.write_text(REDOS_FORM.replace("PATTERN", "'(a'"))
    with pytest.raises(DefinitionError, match=r"12:\d+: .*bad pattern: missing \)"):
        load_file(path)


async def test_a_command_printing_forever_cannot_fill_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run: [yes]` wrote its log without end (about 1 MB/s here, until the disk is full).
    A run keeps MAX_LOG_BYTES of output (made small here), then drops the rest."""
    from switchyard.engine.people.masking import TextMasker
    from switchyard.engine.runs import runner

    monkeypatch.setattr(runner, "MAX_LOG_BYTES", 200_000)
    log_path = tmp_path / "run.log"
    script = "yes | head -c 2000000; echo tail"
    run = runner.CommandRun(runner.CommandSpec(["sh", "-c", script]), log_path, TextMasker())
    await run.start()
    result = await run.wait()
    assert result.status == "completed"
    text = log_path.read_text()
    assert len(text) < 200_000 + 1_000
    assert text.endswith("output past 200,000 bytes is not kept (the command goes on)\n")


RECURSIVE = """
process: rec
start: a
tasks:
  r:
    actions:
      - call: {task: r}
states:
  a:
    actions:
      - call: {task: r}
"""
# each level of the recursion several compound steps deep
RECURSIVE_DEEP = """
process: rec
start: a
tasks:
  r:
    actions:
      - loop:
          for_each: "[1]"
          as: i
          do:
            - if: "true"
              then:
                - loop:
                    for_each: "[1]"
                    as: j
                    do:
                      - if: "true"
                        then:
                          - switch: "1"
                            cases:
                              1: [call: {task: r}]
states:
  a:
    actions:
      - call: {task: r}
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", [RECURSIVE, RECURSIVE_DEEP], ids=["direct", "deep"])
async def test_a_task_calling_itself_ends_in_a_clear_error(
    sqlite_url: str, data_dir: Path, tmp_path: Path, text: str
) -> None:
    """It ended in `internal error: RecursionError: maximum recursion depth exceeded`."""
    from ._bounds_helpers import ended, node, publish

    async with node(sqlite_url, data_dir) as (engine, _runtime):
        await publish(engine, tmp_path, text)
        instance = await engine.start_process("rec", {})
        row = await ended(engine, instance, "error")
    assert "steps nested deeper than 100 levels: does a task call itself?" in row["reason"]
    assert "internal" not in row["reason"]

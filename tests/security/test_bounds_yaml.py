"""Definition files that would exhaust a node: alias bombs, merge-key bombs, deep nesting,
huge files, huge names. Each is refused with a ``file:line:col`` error, quickly."""

from __future__ import annotations

from pathlib import Path

import pytest
from switchyard.engine.api import Engine
from switchyard.engine.definitions import DefinitionError, load_file

from ._bounds_helpers import cli

HEAD = "process: bomb\nstart: a\nstates: {a: {actions: [{log: hi}]}}\n"


def laughs(levels: int = 8) -> str:
    """Billion laughs: each level lists the previous one ten times (10**levels items)."""
    lines = [HEAD, 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def merges(levels: int = 7) -> str:
    """The same with merge keys: each mapping merges ten copies of the previous one."""
    lines = [HEAD, "m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(10)) + "}"]
    for i in range(1, levels):
        sources = ", ".join([f"*m{i - 1}"] * 10)
        lines.append(f"m{i}: &m{i} {{<<: [{sources}], n{i}: [{sources}]}}")
    return "\n".join(lines) + "\n"


def issues_of(path: Path) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    return [str(i) for i in info.value.issues]


@pytest.mark.timeout(10)
def test_billion_laughs_is_refused_at_the_alias(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs())
    assert len(path.read_bytes()) < 600
    (issue,) = issues_of(path)
    assert issue.startswith(f"{path}:9:")  # the first alias past the budget (level 4)
    assert "(yaml): alias *l" in issue and "expands to more than 100,000 values" in issue


@pytest.mark.timeout(10)
def test_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "merges.yaml"
    path.write_text(merges())
    (issue,) = issues_of(path)
    assert "expands to more than 100,000 values" in issue


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "process: fine\nstart: a\n"
        "shared: &acts [{log: one}, {log: two}]\n"
        "states:\n  a: {actions: *acts}\n  b: {actions: *acts}\n"
    )
    # "shared" is not a known key: the only error, the aliases themselves are accepted
    assert all("shared" in i for i in issues_of(path))


@pytest.mark.timeout(10)
def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(HEAD + "x: " + "[" * 100 + "]" * 100 + "\n")
    (issue,) = issues_of(path)
    assert issue.startswith(f"{path}:4:") and "nested deeper than 64 levels" in issue


@pytest.mark.timeout(10)
def test_deep_block_nesting_is_refused(tmp_path: Path) -> None:
    body = "".join(" " * i + f"k{i}:\n" for i in range(100))
    path = tmp_path / "deep-block.yaml"
    path.write_text(HEAD + "x:\n" + "\n".join(" " + line for line in body.splitlines()) + "\n")
    (issue,) = issues_of(path)
    assert "nested deeper than 64 levels" in issue


@pytest.mark.timeout(10)
def test_a_file_over_1_mib_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + "# " + "x" * (1024 * 1024) + "\n")
    (issue,) = issues_of(path)
    assert issue == f"{path}:1:1: (file): the file is larger than 1 MiB"


@pytest.mark.timeout(10)
def test_an_endless_file_is_refused(tmp_path: Path) -> None:
    (issue,) = issues_of(Path("/dev/zero"))
    assert "larger than 1 MiB" in issue


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("process", "process: {n}\nstart: a\nstates: {{a: {{actions: [{{log: x}}]}}}}\n"),
        ("states", "process: p\nstart: a\nstates: {{a: {{actions: [{{log: x}}]}}, {n}: {{}}}}\n"),
        (
            "tasks",
            "process: p\nstart: a\nstates: {{a: {{actions: [{{log: x}}]}}}}\n"
            "tasks: {{{n}: {{actions: [{{log: x}}]}}}}\n",
        ),
        (
            "variables",
            "process: p\nstart: a\nvariables: {{{n}: {{type: string}}}}\n"
            "states: {{a: {{actions: [{{log: x}}]}}}}\n",
        ),
        (
            "forms",
            "process: p\nstart: a\nstates: {{a: {{actions: [{{log: x}}]}}}}\n"
            "forms: {{{n}: {{fields: [{{name: f, type: string}}], buttons: {{ok: []}}}}}}\n",
        ),
        (
            "forms.f.buttons",
            "process: p\nstart: a\nstates: {{a: {{actions: [{{log: x}}]}}}}\n"
            "forms: {{f: {{fields: [{{name: f, type: string}}], buttons: {{{n}: []}}}}}}\n",
        ),
        (
            "states.a.actions[0].name",
            "process: p\nstart: a\nstates: {{a: {{actions: [{{log: x, name: {n}}}]}}}}\n",
        ),
    ],
)
def test_names_over_200_characters_are_refused(tmp_path: Path, where: str, text: str) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(text.format(n="n" * 201))
    found = [i for i in issues_of(path) if "characters long (limit 200)" in i]
    assert found, issues_of(path)
    assert found[0].startswith(f"{path}:") and f": {where}" in found[0]


def test_a_200_character_state_name_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    name = "s" * 200
    path.write_text(f"process: p\nstart: {name}\nstates: {{{name}: {{actions: [{{log: x}}]}}}}\n")
    assert load_file(path).doc["start"] == name


@pytest.mark.timeout(30)
async def test_process_validate_refuses_the_bomb(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    engine = await Engine.open(db_url, data_dir=data_dir)  # the store exists
    await engine.close()
    path = tmp_path / "laughs.yaml"
    path.write_text(laughs(9))
    proc = cli(db_url, data_dir, "process", "validate", str(path))
    assert proc.returncode in (1, 2), proc.stderr  # a definition error (see section 6)
    assert f"{path}:9:38: (yaml): alias *l3: " in proc.stderr
    assert f"{path}:" in proc.stderr and "expands to more than 100,000 values" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.timeout(30)
async def test_publish_warns_about_a_state_that_only_changes_to_itself(
    db_url: str, data_dir: Path, tmp_path: Path
) -> None:
    engine = await Engine.open(db_url, data_dir=data_dir)
    await engine.close()
    path = tmp_path / "loop.yaml"
    path.write_text(
        "process: loop\nstart: a\nstates:\n  a:\n    actions:\n      - change_state: a\n"
    )
    proc = cli(db_url, data_dir, "process", "validate", str(path))
    assert proc.returncode == 0, proc.stderr
    assert f"{path}:4:3: states.a: warning: state 'a' can only change to itself" in proc.stderr
    proc = cli(db_url, data_dir, "process", "publish", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "can only change to itself" in proc.stderr


def test_a_state_with_another_exit_is_not_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "process: p\nstart: a\nvariables: {n: {type: integer, default: 0}}\nstates:\n"
        "  a:\n    actions:\n      - assign: {n: '{{ n + 1 }}'}\n"
        "      - if: 'n > 3'\n        then: [end_process: done]\n      - change_state: a\n"
    )
    assert not [w for w in load_file(path).warnings if "only change" in str(w)]

"""Every one of the 20 patterns has a test here (a function named ``test_pNN_…``, or
``test_pNN_pMM_…`` for two), and README's patterns table has a row for each."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).parent
README = HERE.parents[1] / "README.md"


def test_each_pattern_has_a_test_and_a_readme_row() -> None:
    covered: set[int] = set()
    for path in HERE.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                covered |= {int(n) for n in re.findall(r"_p(\d\d)(?=_)", node.name)}
    assert covered == set(range(1, 21)), f"no test for {sorted(set(range(1, 21)) - covered)}"
    text = README.read_text()
    table = text[text.index("| # | Pattern |") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\d+) \| ", table, flags=re.M)
    assert [int(r) for r in rows] == list(range(1, 21))

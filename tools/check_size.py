"""Fail when code outgrows what a newcomer can change in one place.

* no module in ``shared/`` is longer than ``MAX_MODULE_LINES`` lines;
* no function (or method) in ``shared/usecases/`` is longer than ``MAX_FUNCTION_LINES`` lines, counted from
  its ``def`` (decorators included) to its last line.

Run from the repository root: ``python -m tools.check_size`` (``make lint`` does). Prints every offender
and exits 1 when there is one.
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40
ROOT = Path(__file__).resolve().parents[1]


def module_problems(root: Path) -> Iterator[str]:
    """Modules of ``shared/`` over the limit."""
    for path in sorted((root / "shared").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            yield f"{path.relative_to(root)}: {lines} lines (at most {MAX_MODULE_LINES})"


def function_problems(root: Path) -> Iterator[str]:
    """Functions of ``shared/usecases/`` over the limit."""
    for path in sorted((root / "shared" / "usecases").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_FUNCTION_LINES:
                    yield (f"{path.relative_to(root)}:{node.lineno}: {node.name} is {length} lines "
                           f"(at most {MAX_FUNCTION_LINES})")


def main(root: Path = ROOT) -> int:
    """Print the offenders; 1 when there are any."""
    problems = [*module_problems(root), *function_problems(root)]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The code's shape: no function longer than 100 lines, so each one does a job that can be read in one go."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 100
#: Functions allowed over the limit for now, each with the reason (none today).
ALLOWED_LONG: set[str] = set()


def python_files() -> list[Path]:
    """The repository's tracked Python files (every file below the root when git is not there)."""
    try:
        listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
        return [ROOT / name for name in listed.stdout.split()]
    except (OSError, subprocess.CalledProcessError):
        return sorted(ROOT.rglob("*.py"))


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of every function in ``path`` longer than ``limit`` lines, decorators excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = child.end_lineno - child.lineno + 1
                if lines > limit:
                    found.append((prefix + child.name, lines))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def test_long_functions_are_found(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("def short():\n    return 1\n\n\nclass A:\n    def long(self):\n" + "        x = 1\n" * 101)
    assert long_functions(path) == [("A.long", 102)]


def test_no_function_is_longer_than_100_lines():
    too_long = []
    for path in python_files():
        relative = path.relative_to(ROOT).as_posix()
        for name, lines in long_functions(path):
            if f"{relative}:{name}" not in ALLOWED_LONG:
                too_long.append(f"{relative}:{name} ({lines} lines)")
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {', '.join(too_long)}"

"""Issues #12, #21: no function in engine/, exports/, gui/ or rnn_studio/ is over 80 lines, so each step has a name.

A function's length is the span of its def, from the `def` line to its last line: nested functions,
docstrings and blank lines count towards it (decorators do not).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "exports", "gui", "rnn_studio")
MAX_LINES = 80


def long_functions(source: str, filename: str) -> list[str]:
    """`file:function:length` for every function or method of `source` whose def spans over MAX_LINES lines."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None  # always set by ast.parse
            span = node.end_lineno - node.lineno + 1
            if span > MAX_LINES:
                found.append(f"{filename}:{node.name}:{span}")
    return found


def test_no_function_in_our_packages_is_over_80_lines():
    files = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    assert len(files) > 20  # the walk really sees the packages
    assert {p.relative_to(ROOT).parts[0] for p in files} == set(PACKAGES)
    too_long = [
        hit for p in files for hit in long_functions(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())
    ]
    assert not too_long, (
        f"over {MAX_LINES} lines (file:function:length): {', '.join(too_long)}: "
        "break each into named steps (small private functions or a class with named methods)"
    )


def _function(name: str, body_lines: int, indent: str = "") -> str:
    return f"{indent}def {name}():\n" + "".join(f"{indent}    x = {i}\n" for i in range(body_lines - 1))


def test_the_check_counts_the_def_span_with_nested_functions_and_methods():
    # exactly 80 lines passes; 81 fails, named file:function:length
    assert long_functions(_function("fits", MAX_LINES), "m.py") == []
    assert long_functions(_function("too_long", MAX_LINES + 1), "m.py") == ["m.py:too_long:81"]
    # a nested function's lines count towards its outer function
    outer = "def outer():\n" + _function("inner", 60, "    ") + "".join(f"    y = {i}\n" for i in range(25))
    assert long_functions(outer, "m.py") == ["m.py:outer:86"]
    # methods are functions too
    method = "class C:\n" + _function("step", MAX_LINES + 5, "    ")
    assert long_functions(method, "pkg/c.py") == ["pkg/c.py:step:85"]

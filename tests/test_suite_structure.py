"""The suite's own shape: a test module never imports another test module. What tests share
lives in conftest.py (fixtures) or tests/support/ (plain helpers), so each module can be run,
moved or deleted alone."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _test_module(name: str) -> str | None:
    """The test module that an imported name is or lives in (``tests.test_x``, or ``test_x``
    imported from inside the package), else None."""
    parts = name.split(".")
    prefix = parts[:1] if parts[0] == "tests" else []
    rest = parts[len(prefix) :]
    if rest and rest[0].startswith("test_"):
        return ".".join([*prefix, rest[0]])
    return None


def _imported_test_modules(path: Path) -> list[str]:
    """The test modules that one file imports, anywhere in it (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):  # also `from tests import test_x`, `from . import`
            base = node.module or ""
            names = [base, *(f"{base}.{alias.name}".lstrip(".") for alias in node.names)]
        else:
            continue
        found.update(module for name in names if (module := _test_module(name)))
    return sorted(found)


def test_no_test_module_imports_another() -> None:
    modules = sorted(TESTS.glob("test_*.py"))
    assert len(modules) > 50
    offenders = {
        path.name: imported for path in modules if (imported := _imported_test_modules(path))
    }
    assert offenders == {}, (
        "test modules import other test modules; move what they share to tests/conftest.py "
        f"(fixtures) or tests/support/ (helpers): {offenders}"
    )


def test_the_check_sees_every_way_of_importing_a_test_module(tmp_path: Path) -> None:
    written = {
        "from tests.test_signup import post": ["tests.test_signup"],
        "import tests.test_dkim as dkim_tests": ["tests.test_dkim"],
        "from tests import test_imports, conftest": ["tests.test_imports"],
        "from . import test_reports": ["test_reports"],
        "from .test_reports import report_path": ["test_reports"],
        "def f():\n    from test_unsubscribe import unsubscribe_path": ["test_unsubscribe"],
        "from tests.support.panel import Client": [],
        "from tests import conftest": [],
        "import testing_tools": [],
    }
    for source, expected in written.items():
        path = tmp_path / "test_example.py"
        path.write_text(source + "\n", encoding="utf-8")
        assert _imported_test_modules(path) == expected, source

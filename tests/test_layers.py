"""The layers: the library, profiles and the worker bridge never pull in the UI toolkit.

Checked twice: at run time (each module imported in a fresh interpreter, which
catches deferred imports too) and statically by import-linter, whose contracts
live in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UI_FREE_MODULES = [
    "msgr_tui.messenger",
    "msgr_tui.messenger.messenger",
    "msgr_tui.messenger.snapshot",
    "msgr_tui.bridge",
    "msgr_tui.bridge.worker",
    "msgr_tui.profiles",
    "msgr_tui.profiles.session",
    "msgr_tui.profiles.tls_files",
    "msgr_tui.drafts",
    "msgr_tui.formatting",
    "msgr_tui.settings",
    "msgr_tui.secret",
    "msgr_tui.commands.send",
    "msgr_tui.commands.recv",
    "msgr_tui.commands.move",
    "msgr_tui.messagefile",
    "msgr_tui.commands.profiles",
    "msgr_tui.commands.doctor",
    "msgr_tui.recovery",
    "msgr_tui.crashes",
    "msgr_tui.installation",
    "msgr_tui.hints",
]


@pytest.mark.parametrize("module", UI_FREE_MODULES)
def test_module_imports_without_textual(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"{module} imported {result.stdout.strip()}"


# ------------------------------------------------ the contracts, enforced

ROOT = Path(__file__).resolve().parent.parent
# import-linter's own command (what its lint-imports script runs), with this Python.
LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on ``project`` (its pyproject.toml and its msgr_tui package)."""
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(project)},
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("messenger/status.py", "import textual", "The Messenger library imports nothing"),
        ("bridge/commands.py", "from msgr_tui.messenger import _engine", "only its public"),
        ("commands/progress.py", "import cproton", "Only messenger._pn talks"),
    ],
    ids=["textual in the library", "a private module from the bridge", "cproton elsewhere"],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copytree(ROOT / "msgr_tui", project / "msgr_tui", ignore=shutil.ignore_patterns("*.pyc"))
    target = project / "msgr_tui" / module
    target.write_text(target.read_text() + f"\n{forbidden}  # added by the test\n")
    result = lint_imports(project)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout
    assert "BROKEN" in result.stdout

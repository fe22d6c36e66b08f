"""The library, profiles and the worker bridge must never pull in the UI toolkit."""

from __future__ import annotations

import subprocess
import sys

import pytest

UI_FREE_MODULES = [
    "msgr_tui.messenger",
    "msgr_tui.messenger.messenger",
    "msgr_tui.bridge",
    "msgr_tui.profiles",
    "msgr_tui.profiles.session",
    "msgr_tui.profiles.tls_files",
    "msgr_tui.secret",
    "msgr_tui.commands.profiles",
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

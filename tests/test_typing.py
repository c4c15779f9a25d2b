"""The package is typed: mypy (configured in pyproject.toml) finds nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_mypy_finds_no_error():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "primsync"], cwd=ROOT, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-5000:]
    assert out.stdout.startswith("Success: no issues found")

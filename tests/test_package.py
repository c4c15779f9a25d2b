"""The public API, the README's commands and CI's script agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import primsync

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_and_exported():
    assert primsync.__all__ == sorted(primsync.__all__)
    for name in primsync.__all__:
        assert hasattr(primsync, name), name


def test_readme_opens_with_the_two_commands_ci_runs():
    commands = re.findall(r"^    (\S.*)$", (ROOT / "README.md").read_text(), flags=re.M)
    main_job, tests = commands[:2]
    assert main_job.endswith("primsync demo --no-lab --exit")
    assert tests == "bash scripts/setup-tests.sh && python3 -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup-tests.sh && " in ci and "5" in ci


def test_readme_main_job_prints_the_demo_review(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "demo", "--no-lab", "--exit",
         "--db", f"sqlite:///{tmp_path / 'demo.db'}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Re: Interview on Monday" in out.stdout
    assert "3 pre-ticked (green)" in out.stdout


def test_init_creates_the_contract(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "init", "--db", url], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    for table in (
        "security_group",
        "app_user",
        "mail_account",
        "record",
        "record_address",
        "crm_message",
        "imported_message",
        "attachment",
        "folder_state",
        "sync_run",
    ):
        assert table in out.stdout  # fmt: skip
    again = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "init", "--db", url], capture_output=True, text=True
    )
    assert "schema already present" in again.stdout

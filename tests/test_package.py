"""The public API, the README's commands and CI's script agree."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
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
    assert main_job == "python3 -m pip install -e '.[notebook]' && primsync demo"
    assert tests == "bash scripts/setup-tests.sh && python3 -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup-tests.sh && " in ci and "5" in ci


def test_demo_exit_prints_the_review(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "demo", "--no-lab", "--exit",
         "--db", f"sqlite:///{tmp_path / 'demo.db'}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Re: Interview on Monday" in out.stdout
    assert "3 pre-ticked (green)" in out.stdout


def test_readme_main_job_serves_jupyterlab_and_stops_on_ctrl_c(tmp_path):
    demo = subprocess.Popen(
        [sys.executable, "-m", "primsync.cli", "demo", "--db", f"sqlite:///{tmp_path / 'd.db'}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = None
        for _ in range(200):
            line = demo.stdout.readline()
            if line.startswith("JupyterLab: "):
                url = line.split(": ", 1)[1].strip()
                break
        assert url is not None, "primsync demo printed no JupyterLab address"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.status == 200
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0
        assert "stopping the demo servers" in rest
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.stdout.close()


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

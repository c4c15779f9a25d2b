"""The public API, the README's commands and CI's script agree."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import primsync
from tests.processes import printed_address

ROOT = Path(__file__).resolve().parent.parent


# what a notebook user calls, kept here by hand: a change to the public API shows up as a diff
EXPORTED = [
    "AccountLocked", "AuthenticationError", "CommitError", "ConfigurationError", "DatabaseError",
    "FetchFailed", "FolderError", "ImportSummary", "MailboxError", "PermissionDenied",
    "PrimsyncError", "ReviewResult", "SchemaMissing", "ServiceError", "SyncOption", "SyncReport",
    "UidValidityChanged", "add_group", "add_user", "choose_rows", "domain_counts", "export_frame",
    "health_frame",
    "health_table", "html_table", "import_records", "import_selected", "init_db", "list_folders",
    "message_preview", "open_account", "open_engine", "open_session", "project_root", "recent_runs",
    "records_frame", "review_mailbox", "runs_table", "save_attachment", "set_excluded",
    "sync_account", "undo_run", "visible_messages", "weekly_chart", "weekly_counts",
]  # fmt: skip


def test_the_public_api_is_what_notebooks_call():
    assert primsync.__all__ == EXPORTED == sorted(EXPORTED)
    members = {name for name in dir(primsync) if not name.startswith("_")}
    assert set(EXPORTED) <= members
    for name in EXPORTED:
        value = getattr(primsync, name)
        assert value.__module__.startswith("primsync."), name
        assert value.__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'build_frame'"):
        primsync.build_frame  # noqa: B018 - internals stay in their modules


def test_notebooks_import_only_the_public_api():
    import json

    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        code = "".join(
            "".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
            if c["cell_type"] == "code"
        )  # fmt: skip
        imports = re.findall(r"^from (primsync[.\w]*) import", code, flags=re.M)
        assert set(imports) <= {"primsync", "primsync.widgets"}, (notebook.name, imports)


def test_readme_opens_with_the_two_commands_ci_runs():
    commands = re.findall(r"^    (\S.*)$", (ROOT / "README.md").read_text(), flags=re.M)
    main_job, tests = commands[:2]
    assert main_job == (
        "python3 -m venv --upgrade-deps .venv && .venv/bin/pip install -e '.[notebook]' "
        "&& .venv/bin/primsync demo"
    )
    assert tests == "bash scripts/setup-tests.sh && .venv/bin/python -m pytest"
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


def demo_until_ctrl_c(project, check) -> None:
    """README's main job (`primsync demo`) run in ``project``; ``check(base_url, token)`` while
    JupyterLab runs; then Ctrl-C."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "primsync.cli", "demo", "--db", f"sqlite:///{project / 'd.db'}"],
        stdout=subprocess.PIPE, text=True, cwd=project,
    )  # fmt: skip
    try:
        url = printed_address(demo, "JupyterLab")
        assert url is not None, "primsync demo printed no JupyterLab address"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert answer.status == 200
        check(url.split("/lab/")[0], url.rsplit("token=", 1)[1])
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0
        assert "stopping the demo servers" in rest
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.stdout.close()


def test_readme_main_job_serves_clean_notebooks_twice_and_stops_on_ctrl_c(tmp_path):
    import json
    import shutil

    project = tmp_path / "project"
    shutil.copytree(ROOT / "notebooks", project / "notebooks")
    served = []

    def dirty_the_working_copy(base, token):
        with urllib.request.urlopen(f"{base}/api/contents/01_sync.ipynb?token={token}") as page:
            served.append(json.loads(page.read())["content"])
        # as JupyterLab saves a run: outputs in the working copy under data/
        copy = project / "data" / "notebooks" / "01_sync.ipynb"
        notebook = json.loads(copy.read_text())
        notebook["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                            "text": ["old run\n"]}]  # fmt: skip
        copy.write_text(json.dumps(notebook))

    demo_until_ctrl_c(project, dirty_the_working_copy)
    demo_until_ctrl_c(project, dirty_the_working_copy)
    for content in served:  # each demo opened on the shipped notebook, without outputs
        assert not any(c.get("outputs") for c in content["cells"] if c["cell_type"] == "code")
    assert (project / "notebooks" / "01_sync.ipynb").read_text() == (
        ROOT / "notebooks" / "01_sync.ipynb"
    ).read_text()  # the tracked notebooks are never written


def test_tracked_notebooks_carry_no_outputs_and_the_demo_copies_are_ignored():
    import json

    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(notebook.read_text())["cells"]
        assert not [c for c in cells if c["cell_type"] == "code" and c.get("outputs")], notebook
        assert all(c.get("execution_count") is None for c in cells if c["cell_type"] == "code")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "data/notebooks/01_sync.ipynb"], cwd=ROOT
    )
    if (ROOT / ".git").exists():
        assert ignored.returncode == 0  # `git status` stays clean after a demo


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


def test_constraints_pin_every_dependency_within_its_range():
    import os
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[name.strip().lower()] = pinned.strip()
    for requirement in wanted:
        name = requirement.name.lower()
        assert name in pins, f"constraints.txt does not pin {name}"
        assert requirement.specifier.contains(pins[name]), (name, pins[name], requirement)
        assert not list(requirement.specifier.filter(["999"])) or name in {"ruff", "mypy"}, (
            f"{name} has no upper bound in pyproject.toml"
        )
        if os.environ.get("CI"):  # CI installs with the constraints: the suite tests the pins
            assert version(name) == pins[name], (name, version(name), pins[name])


def test_the_command_line_starts_without_the_heavy_libraries():
    """`primsync --help` (or a mistyped command) loads no pandas, SQLAlchemy, Alembic or
    imapclient: the commands import what they use (measured: 0.9 s -> 0.13 s)."""
    probe = (
        "import sys, primsync.cli\n"
        "try:\n    primsync.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pandas', 'sqlalchemy', 'alembic', 'imapclient', 'numpy')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_command_lines_process_runs_the_cycle_collector_less_often(monkeypatch):
    """``primsync`` (``cli.run``) raises the collector's first threshold before a command runs
    (its imports and frames make no cycles worth ~450 passes); ``cli.main``, which tests and
    callers use in their own process, leaves it alone."""
    import gc

    from primsync import cli

    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(gc.get_threshold()) or 0)
    monkeypatch.setattr(cli, "leave", sys.exit)  # not this process's end
    try:
        with pytest.raises(SystemExit):
            cli.run(["health"])
    finally:
        gc.set_threshold(*before)
    assert seen == [(cli.GC_FIRST_THRESHOLD, *before[1:])]
    assert before[0] < cli.GC_FIRST_THRESHOLD


def test_the_commands_that_show_no_table_start_without_pandas(tmp_path, mailbox):
    """A command that writes, or checks an account, loads no pandas (~0.6 s of its ~1.3 s
    before): each in a process of its own, as typed, on a new database."""
    import os

    from primsync.demo import DEMO_ACCOUNT
    from tests.conftest import PASSWORD

    probe = (
        "import sys, primsync.cli\n"
        "code = primsync.cli.main(sys.argv[1:])\n"
        "print(code, 'pandas' in sys.modules)"
    )
    env = {**os.environ, "PRIMSYNC_DB": f"sqlite:///{tmp_path / 'crm.db'}",
           "PRIMSYNC_PASSWORD": PASSWORD}  # fmt: skip
    (tmp_path / "people.csv").write_text("kind,name,email\ncandidate,Lea,lea@mail.example\n")
    commands = [
        ["init"], ["groups", "add", "Recruiters", "--level", "10"],
        ["users", "add", "ana", "--name", "Ana", "--group", "Recruiters"],
        ["account", "add", DEMO_ACCOUNT, "--owner", "ana", "--host", mailbox.host, "--port",
         str(mailbox.port), "--security", "none", "--username", "ana"],
        ["account", "schedule", DEMO_ACCOUNT, "--folder", "INBOX", "--accessible-to",
         "Recruiters"],
        ["records", "import", "people.csv"], ["records", "exclude", "1"],
        ["account", "test", DEMO_ACCOUNT],
    ]  # fmt: skip
    for command in commands:
        out = subprocess.run([sys.executable, "-c", probe, *command], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.stdout.splitlines()[-1:] == ["0 False"], (command, out.stdout, out.stderr)


def test_two_demos_and_a_notebook_at_once_share_one_database(tmp_path):
    """A demo holds its database while it runs: a second `primsync demo` in the same folder
    says where the first runs and deletes nothing, and a notebook run outside the demo uses the
    running demo's database and mailbox instead of starting (and wiping) its own."""
    import json
    import os

    papermill = pytest.importorskip("papermill")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRIMSYNC_")}
    first = subprocess.Popen(
        [sys.executable, "-m", "primsync.cli", "demo", "--no-lab"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = None
        for _ in range(200):
            line = first.stdout.readline()
            if line.startswith("demo mailbox:"):
                port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
            if "The demo mailbox runs until Ctrl-C" in line:
                break
        assert port, "the first demo printed no mailbox"
        second = subprocess.run(
            [sys.executable, "-m", "primsync.cli", "demo", "--no-lab", "--exit"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 2
        database = tmp_path / "data" / "demo.db"
        assert second.stderr.strip() == (
            f"primsync demo: error: a demo is already running on {database} (process "
            f"{first.pid}, mailbox imap://127.0.0.1:{port}): use it, stop it (Ctrl-C where it "
            "runs), or give --db for a demo database of its own"
        )
        (tmp_path / "notebooks").mkdir()
        old = os.environ.copy()
        os.environ.clear()
        os.environ.update(env)
        try:
            papermill.execute_notebook(
                str(ROOT / "notebooks" / "01_sync.ipynb"), str(tmp_path / "out.ipynb"),
                parameters={"folders": ["INBOX"], "option": "all"}, cwd=str(tmp_path / "notebooks"),
                kernel_name="python3", progress_bar=False, log_output=False,
            )  # fmt: skip
        finally:
            os.environ.clear()
            os.environ.update(old)
        text = json.dumps([c.get("outputs", []) for c in
                           json.loads((tmp_path / "out.ipynb").read_text())["cells"]])  # fmt: skip
        assert "account recruiter@agency.example, user ana" in text
        assert "I/O error" not in text and "Re: Interview on Monday" in text
        # the first demo's database is whole and still answers it
        again = subprocess.run(
            [sys.executable, "-m", "primsync.cli", "review", "--db", f"sqlite:///{database}",
             "--account", "recruiter@agency.example", "--folder", "INBOX", "--option", "all"],
            cwd=tmp_path, env={**env, "PRIMSYNC_PASSWORD": "demo"}, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "Re: Interview on Monday" in again.stdout
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 0
    # stopped, it frees the database: the next demo starts afresh, over a stale journal too
    (tmp_path / "data" / "demo.db-wal").write_bytes(b"not a journal")
    after = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "demo", "--no-lab", "--exit"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert after.returncode == 0, after.stderr
    assert "3 pre-ticked (green)" in after.stdout

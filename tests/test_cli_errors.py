"""What a person sees when something is wrong: one line, a documented exit code, nothing created.

Each case runs the command line as a person types it (a new process, in an empty folder)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from primsync import cli
from primsync.db.engine import init_db, open_engine
from primsync.errors import ServiceError
from primsync.servers import free_port, wait_for_port


def primsync(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "primsync.cli", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip


def one_line(out: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["folders", "--account", "ana@agency.example"],
        ["review", "--account", "ana@agency.example", "--folder", "INBOX"],
        ["health", "--account", "ana@agency.example"],
        ["messages", "--user", "ana"],
        ["undo", "1", "--user", "ana"],
    ],
)
def test_commands_before_init_say_to_run_init_and_create_nothing(tmp_path, monkeypatch, command):
    monkeypatch.delenv("PRIMSYNC_DB", raising=False)
    out = primsync(*command, cwd=tmp_path)
    assert out.returncode == 2
    assert one_line(out) == (
        f"primsync {command[0]}: error: there is no database at data/primsync.db: "
        "run `primsync init` first (or `primsync demo` for the demo database)"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_database_path_creates_no_folder(tmp_path):
    out = primsync("health", "--account", "a@b.example", "--db",
                   "sqlite:///nonexistent/dir/x.db", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert "there is no database at nonexistent/dir/x.db: run `primsync init`" in one_line(out)
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_tables_or_at_an_older_schema_says_init(tmp_path):
    empty = tmp_path / "empty.db"
    open_engine(f"sqlite:///{empty}", create=True).connect().close()
    out = primsync("health", "--account", "a@b.example", "--db", f"sqlite:///{empty}",
                   cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert "the database has no primsync tables: run `primsync init` first" in one_line(out)
    old = tmp_path / "old.db"
    init_db(open_engine(f"sqlite:///{old}", create=True), revision="0001")
    out = primsync("health", "--account", "a@b.example", "--db", f"sqlite:///{old}",
                   cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert "the database is at schema 0001, this primsync needs" in one_line(out)
    assert "run `primsync init` to upgrade it in place" in one_line(out)


def test_an_unreachable_postgresql_is_a_connection_error_without_the_password(tmp_path):
    url = f"postgresql+psycopg://crm:Sup3r-Secret@127.0.0.1:{free_port()}/crm"
    for command in (["health", "--account", "a@b.example"], ["init"]):
        out = primsync(*command, "--db", url, cwd=tmp_path)
        assert out.returncode == 3
        line = one_line(out)
        assert "cannot use the database postgresql+psycopg://crm:***@127.0.0.1:" in line
        assert "Connection refused" in line and "Sup3r-Secret" not in out.stderr + out.stdout


def test_init_then_a_command_works(tmp_path):
    out = primsync("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = primsync("messages", "--user", "nobody", cwd=tmp_path)
    assert (out.returncode, one_line(out)) == (
        2,
        "primsync messages: error: no user with login 'nobody'",
    )


def test_version(tmp_path):
    out = primsync("--version", cwd=tmp_path)
    assert (out.returncode, out.stdout.strip()) == (0, "primsync 0.1.0")


def test_an_unexpected_error_is_one_line_naming_its_log(tmp_path, monkeypatch, capsys):
    def broken(_args):
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "health", broken)
    monkeypatch.setenv("PRIMSYNC_LOG_DIR", str(tmp_path / "logs"))
    assert cli.main(["health", "--account", "a@b.example"]) == 1
    line = capsys.readouterr().err.strip()
    (log,) = (tmp_path / "logs").iterdir()
    assert line == (
        f"primsync health: unexpected error (KeyError); the traceback is in {log} — "
        "please attach it to a bug report"
    )
    text = log.read_text()
    assert "Traceback" in text and "KeyError: 'a bug'" in text and "in broken" in text
    assert log.stat().st_mode & 0o077 == 0


def test_demo_without_jupyterlab_says_so(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jupyterlab" else real(name, *a),
    )
    assert cli.main(["demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        "primsync demo: error: JupyterLab is not installed: python3 -m pip install -e "
        "'.[notebook]' (or run `primsync demo --no-lab`)"
    )


def test_a_program_that_exits_is_named_as_what_it_is():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    with pytest.raises(ServiceError, match=r"^JupyterLab on port \d+ exited with code 7$"):
        wait_for_port(free_port(), process=process, name="JupyterLab", timeout=30)
    assert ServiceError.exit_code == 2

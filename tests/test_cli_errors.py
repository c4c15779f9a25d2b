"""What a person sees when something is wrong: one line, a documented exit code, nothing created.

Each case runs the command line as a person types it (a new process, in an empty folder)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from primsync import cli
from primsync.db.engine import init_db, open_engine
from primsync.errors import ServiceError
from primsync.servers import free_port, wait_for_port
from tests.forkserver import PRIMSYNC


def primsync(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PRIMSYNC, *args], cwd=cwd, capture_output=True, text=True,
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
    engine = open_engine(f"sqlite:///{empty}", create=True)
    engine.connect().close()
    engine.dispose()  # every connection closed (Python 3.13 reports one left open)
    out = primsync("health", "--account", "a@b.example", "--db", f"sqlite:///{empty}",
                   cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert "the database has no primsync tables: run `primsync init` first" in one_line(out)
    old = tmp_path / "old.db"
    engine = open_engine(f"sqlite:///{old}", create=True)
    init_db(engine, revision="0001")
    engine.dispose()
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
        f"primsync demo: error: JupyterLab is not installed: {sys.executable} -m pip install -e "
        "'.[notebook]' (or run `primsync demo --no-lab`)"
    )


def test_a_program_that_exits_is_named_as_what_it_is():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    with pytest.raises(ServiceError, match=r"^JupyterLab on port \d+ exited with code 7$"):
        wait_for_port(free_port(), process=process, name="JupyterLab", timeout=30)
    assert ServiceError.exit_code == 2


def test_a_database_of_a_kind_primsync_does_not_keep_is_exit_2(tmp_path):
    out = primsync("health", "--account", "a@b.example", "--db", "mysql://u@db.example/crm",
                   cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert one_line(out) == (
        "primsync health: error: primsync keeps its data in SQLite or PostgreSQL, not mysql: "
        "give a sqlite:/// or postgresql+psycopg:// URL"
    )
    out = primsync("init", "--db", "postgresql+pg8000://u@127.0.0.1:1/crm", cwd=tmp_path)
    assert out.returncode == 2
    assert "the database driver 'postgresql+pg8000' is not installed" in one_line(out)


def _agency(tmp_path, records: int = 0) -> dict[str, str]:
    """An initialised database with a group, a user and ``records`` records, by command."""
    env = {**os.environ, "PRIMSYNC_DB": f"sqlite:///{tmp_path / 'crm.db'}"}
    for command in (["init"], ["groups", "add", "Recruiters", "--level", "10"],
                    ["users", "add", "ana", "--name", "Ana", "--group", "Recruiters"]):  # fmt: skip
        assert primsync(*command, cwd=tmp_path, env=env).returncode == 0
    if records:
        lines = "".join(f"candidate,Person {i},p{i}@mail.example\n" for i in range(records))
        (tmp_path / "people.csv").write_text("kind,name,email\n" + lines)
        done = primsync("records", "import", "people.csv", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
    return env


def test_an_output_path_that_cannot_be_written_is_exit_2(tmp_path):
    env = _agency(tmp_path)
    out = primsync("messages", "--user", "ana", "--format", "csv", "-o", "no/such/folder/x.csv",
                   cwd=tmp_path, env=env)  # fmt: skip
    assert out.returncode == 2
    assert one_line(out) == (
        "primsync messages: error: cannot write no/such/folder/x.csv: No such file or directory"
    )


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`primsync records list | head -n 1`, and a reader that goes away without reading
    (`| true`): nothing is said, and the writer ends with 141 (as one killed by SIGPIPE)."""
    import shlex

    env = _agency(tmp_path, records=3000)  # 167 kB: more than a pipe holds
    listing = f"{shlex.quote(sys.executable)} -m primsync.cli records list --format csv"
    for reader, status in (("head -n 1", None), ("true", "141")):
        command = f"{listing} | {reader}; echo \"status ${{PIPESTATUS[0]}}\" >&2"
        out = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        said, _, code = out.stderr.rpartition("status ")
        assert said == "", out.stderr  # no traceback, no "Exception ignored", no line
        assert status is None or code.strip() == status
        if reader.startswith("head"):
            assert out.stdout.startswith("id,kind,name,addresses,")


def test_a_command_ends_as_the_interpreter_ends_it_without_its_teardown(tmp_path):
    """``cli.leave``, which ends every command: threads still running are waited for, atexit's
    functions run (logging's flush, a temporary folder's clean-up), the buffered output is
    written, the exit code is the command's; a reader gone away makes it 141, quietly."""
    script = (
        "import atexit, sys, tempfile, threading, time\n"
        "from primsync import cli\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        f"kept = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
        "sys.stdout.write('buffered, ')\n"
        "cli.leave(3)\n"
        "print('never reached')\n"
    )
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=buffered, timeout=60)  # fmt: skip
    assert (out.returncode, out.stdout) == (3, "buffered, thread done\natexit ran\n"), out
    assert out.stderr == "" and list(tmp_path.iterdir()) == []  # the folder was cleaned up
    # a reader gone before anything was written: the flush at the end fails
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        closed = subprocess.run([sys.executable, "-c", script], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, env=buffered,
                                timeout=60)  # fmt: skip
    finally:
        os.close(write_end)
    assert (closed.returncode, closed.stderr) == (141, ""), closed

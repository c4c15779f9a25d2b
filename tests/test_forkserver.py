"""tests/forkserver.py runs a command as a fresh interpreter runs it: the same output and exit
code, in the caller's folder and environment, reading the caller's standard input; Ctrl-C and a
caller's timeout reach the command. Each case runs both ways and compares."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import add_account
from tests.forkserver import FRESH, PRIMSYNC

WAYS = {"forked": PRIMSYNC, "fresh": FRESH}


@pytest.fixture(autouse=True)
def served(forkserver):
    if forkserver is None:
        pytest.skip("no fork server (PRIMSYNC_TEST_FORK=0, or not Linux): every command is a "
                    "fresh interpreter already")


def both(*args: str, **kw) -> dict[str, subprocess.CompletedProcess]:
    return {way: subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, **kw)
            for way, argv in WAYS.items()}  # fmt: skip


def same(done: dict[str, subprocess.CompletedProcess]) -> subprocess.CompletedProcess:
    forked, fresh = done["forked"], done["fresh"]
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode, fresh.stdout, fresh.stderr)  # fmt: skip
    return forked


def test_output_and_exit_code_are_a_fresh_interpreters(tmp_path):
    assert same(both("--help")).returncode == 0
    usage = same(both("review", "--folder", "INBOX", cwd=tmp_path))
    assert usage.returncode == 2 and "usage:" in usage.stderr
    missing = same(both("users", "list", cwd=tmp_path))  # a command typed before `init`
    assert missing.returncode == 2 and "primsync init" in missing.stderr


def forked_commands(socket_path: str) -> list[list[str]]:
    """The argument lists the server forked a command for, as its log says."""
    lines = Path(f"{socket_path}.log").read_text().splitlines()
    return [json.loads(line.split(" ", 2)[2]) for line in lines if line.startswith("forked ")]


def test_the_callers_folder_and_environment(tmp_path, forkserver):
    for way, argv in WAYS.items():
        folder = tmp_path / way
        folder.mkdir()
        env = {**os.environ, "PRIMSYNC_DB": "sqlite:///from-the-environment.db"}
        done = subprocess.run([*argv, "init"], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert [p.name for p in folder.iterdir()] == ["from-the-environment.db"]
    assert forked_commands(forkserver)[-1] == ["init"]  # and the forked one was forked


def logged_in(server: socket.socket) -> socket.socket:
    """The next connection to ``server``, greeted, once it has sent its LOGIN (never answered)."""
    conn, _ = server.accept()
    conn.settimeout(60)
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1] no answer will come\r\n")
    said = b""
    while b"LOGIN" not in said or not said.endswith(b"\r\n"):
        said += conn.recv(4096) or pytest.fail(f"the command hung up: {said!r}")
    assert b"the-password" in said  # read from the command's standard input
    return conn


def test_standard_input_ctrl_c_and_a_callers_timeout_reach_the_command(db, tmp_path):
    """An IMAP server that greets, then never answers the LOGIN (whose password the command
    read from its standard input): Ctrl-C ends the command as it ends a fresh one, and a
    caller's timeout (subprocess kills what it started) ends it, its connection then closed."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.settimeout(60)
        add_account(db, "silent@agency.example", silent.getsockname()[0:2], "silent")
        url = db.url.render_as_string(hide_password=False)
        args = ["folders", "--db", url, "--account", "silent@agency.example", "--password-stdin"]
        codes = {}
        for way, argv in WAYS.items():
            with subprocess.Popen([*argv, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) as process:  # fmt: skip
                process.stdin.write("the-password\n")
                process.stdin.close()
                conn = logged_in(silent)
                process.send_signal(signal.SIGINT)
                codes[way] = process.wait(timeout=60), process.stderr.read()
                conn.close()
        assert codes["forked"] == codes["fresh"]
        assert codes["fresh"][0] != 0
        for argv in WAYS.values():  # subprocess.run(..., timeout=T) as it ends what it waited for
            with subprocess.Popen([*argv, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) as process:  # fmt: skip
                process.stdin.write(b"the-password\n")
                process.stdin.close()
                conn = logged_in(silent)
                with pytest.raises(subprocess.TimeoutExpired):
                    process.wait(timeout=1)
                process.kill()
            # the command is gone: its end of the connection closed (a command left running
            # would hold it until its own IMAP timeout, 60 s, as a fresh one killed does not)
            conn.settimeout(30)
            assert conn.recv(1) == b""
            conn.close()
    assert "KeyboardInterrupt" not in codes["fresh"][1], codes

"""README's "Connect your mailbox" walked as a person does, from an empty folder, each line a
new process, on SQLite and on PostgreSQL, against the tests' Dovecot: the commands are read
from README (a step missing or out of order there fails here) and run as written. The mail
server is found as README says — the domain's autoconfig document, served here where
``autoconfig.agency.example`` resolves through the tests' DNS server — and names the tests'
Dovecot; the password is typed at the prompt of a pseudo-terminal."""

from __future__ import annotations

import csv
import os
import pty
import re
import shlex
import subprocess
import sys

import pytest

from primsync.demo import RECORDS
from tests.conftest import PASSWORD, ROOT

WALK = [
    "init", "groups add", "groups add", "users add", "users add", "records import",
    "records import", "account add", "account add", "account password", "account test",
    "review", "import", "messages",
]  # fmt: skip


def readme_walk() -> list[str]:
    """The commands of README's "Connect your mailbox" block, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Connect your mailbox", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"\n\n((?:    primsync .*\n)+)", section)
    assert block, "README's Connect your mailbox section has no block of primsync commands"
    return [line.strip() for line in block.group(1).splitlines()]


def step(command: str) -> str:
    """``records import`` of ``primsync records import people.csv``, ``review`` of
    ``primsync review --account ...``."""
    words = shlex.split(command)[1:]
    return (
        " ".join(words[:2]) if words[0] in ("groups", "users", "records", "account") else words[0]
    )


def test_the_readme_walk_has_every_step_in_order():
    assert [step(c) for c in readme_walk()] == WALK


def autoconfig(port: int) -> bytes:
    return f"""<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="agency.example">
<incomingServer type="imap"><hostname>127.0.0.1</hostname><port>{port}</port>
<socketType>plain</socketType><username>%EMAILLOCALPART%</username>
<authentication>password-cleartext</authentication></incomingServer>
</emailProvider></clientConfig>""".encode()


@pytest.fixture
def agency_site(dns_server, mailbox):
    """agency.example's autoconfig names the tests' Dovecot (user ana: the test mailbox)."""
    from tests.dns_server import AutoconfigSite

    try:
        site = AutoconfigSite({"autoconfig.agency.example": autoconfig(mailbox.port)})
    except OSError as exc:  # port 80 needs root (CI runs as root)
        pytest.skip(f"cannot serve autoconfig on port 80 ({exc.strerror})")
    dns_server.zone[("autoconfig.agency.example.", "A")] = [site.ADDRESS]
    yield site
    del dns_server.zone[("autoconfig.agency.example.", "A")]
    site.close()


def people_csv(path) -> None:
    """The agency's records as its spreadsheet exports them (an address once)."""
    seen: set[str] = set()
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["kind", "name", "email", "exclude"])
        for kind, name, addresses, excluded in RECORDS:
            fresh = [a for a in addresses if a not in seen]
            seen.update(fresh)
            writer.writerow([kind, name, ", ".join(fresh), "yes" if excluded else "no"])


def typed(argv: list[str], env: dict[str, str], cwd, answer: str) -> tuple[int, str]:
    """``argv`` run on a pseudo-terminal, ``answer`` typed at its prompt."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    seen = b""
    while b": " not in seen:
        seen += os.read(fd, 1024)
    os.write(fd, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_connect_your_mailbox_as_readme_says(database, request, tmp_path, agency_site, mailbox):
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "home"),
    }
    for name in ("PRIMSYNC_DB", "PRIMSYNC_PASSWORD", "PRIMSYNC_ACCOUNT"):
        env.pop(name, None)
    if database == "postgresql":
        env["PRIMSYNC_DB"] = request.getfixturevalue("postgres").create_database(
            f"walk_{os.getpid()}"
        )
    folder = tmp_path / "agency"
    folder.mkdir()
    people_csv(folder / "people.csv")
    said: list[tuple[str, str]] = []
    for command in readme_walk():
        argv = [sys.executable, "-m", "primsync.cli", *shlex.split(command)[1:]]
        if command.startswith("primsync account password"):
            code, out = typed(argv, env, folder, PASSWORD)
        else:
            done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=300)  # fmt: skip
            code, out = done.returncode, done.stdout + done.stderr
        assert code == 0, f"{command}\n{out}"
        assert "Traceback" not in out, command
        said.append((step(command), out))
    if database == "sqlite":
        assert (folder / "data" / "primsync.db").is_file()  # README's default database
    outs = [out for _, out in said]
    dry_run, imported_records = outs[
        WALK.index("records import") : WALK.index("records import") + 2
    ]
    assert f"{len(RECORDS)} to create, 0 to update, 0 unchanged, 0 refused (dry run" in dry_run
    assert f"people.csv: {len(RECORDS)} created, 0 updated" in imported_records
    found, added = outs[WALK.index("account add") : WALK.index("account add") + 2]
    assert found.splitlines()[0] == (
        "found: autoconfig of agency.example (http://autoconfig.agency.example/mail/"
        f"config-v1.1.xml): 127.0.0.1:{mailbox.port} (none)"
    )
    assert "registered sam@agency.example: outlook.office365.com:993 (ssl)" in added
    assert "auth xoauth2, owner sam" in added
    listed = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "account", "list", "--format", "csv"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert f"ana@agency.example,imap,127.0.0.1,{mailbox.port},none,password,ana,ana," in listed
    assert "sam@agency.example,outlook,outlook.office365.com,993,ssl,xoauth2," in listed
    said_by = dict(said)  # each remaining step once
    assert "is in the system keyring" in said_by["account password"]
    assert PASSWORD not in said_by["account password"]
    assert "folders:" in said_by["account test"]
    imported = int(re.search(r"(\d+) imported", said_by["import"]).group(1))
    assert imported > 0, said_by["import"]
    rows = [line for line in said_by["messages"].splitlines()[1:] if line.strip()]
    assert len(rows) == imported, said_by["messages"]

    if database == "sqlite":
        _the_same_run_as_a_notebook(folder, env, imported)


def _the_same_run_as_a_notebook(folder, env, imported: int) -> None:
    """README's papermill line, as written, after `primsync notebooks notebooks` in the same
    folder: the inbox again, nothing new to import, and no folder named '['."""
    text = (ROOT / "README.md").read_text()
    copy = re.search(r"`(primsync notebooks notebooks)`", text).group(1)
    line = re.search(r"`(papermill notebooks/01_sync\.ipynb [^`]*)`", text).group(1)
    assert "-p folders '[\"INBOX\"]'" in line
    for command in (copy, line):
        argv = shlex.split(command)
        argv = [sys.executable, "-m", "primsync.cli", *argv[1:]] if argv[0] == "primsync" else argv
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    import json

    printed = "".join(
        "".join(o.get("text", ""))
        for c in json.loads((folder / "out.ipynb").read_text())["cells"]
        for o in c.get("outputs", [])
    )
    assert "account=ana@agency.example folder='INBOX'" in printed, printed[-2000:]
    assert re.search(r"import run \d+: 0 imported", printed), printed[-2000:]

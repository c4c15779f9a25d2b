"""Secrets and corrections by command: `account password` (keyring, prompt or stdin),
`account edit`, and `account remove` forgetting what the keyring held of the account."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from primsync.demo import DEMO_ACCOUNT
from tests.conftest import PASSWORD, add_account
from tests.forkserver import PRIMSYNC


@pytest.fixture
def person(db, tmp_path):
    """A person on a server without a desktop keyring: keyrings.alt's file, in a temp folder."""
    env = {
        **os.environ,
        "PRIMSYNC_DB": db.url.render_as_string(hide_password=False),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "keyring"),
    }
    env.pop("PRIMSYNC_PASSWORD", None)
    return env


def run(env, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PRIMSYNC, *args],
        capture_output=True, text=True, input=stdin, env=env, timeout=120,
    )  # fmt: skip


def keyring_file(env) -> str:
    from pathlib import Path

    path = Path(env["XDG_DATA_HOME"], "python_keyring", "keyring_pass.cfg")
    return path.read_text() if path.exists() else ""


def in_keyring(env, address: str) -> bool:
    """Whether the keyring file holds an entry for ``address`` (keyrings.alt escapes names)."""
    escaped = "".join(c if c.isalnum() else f"_{ord(c):02x}" for c in address)
    return escaped in keyring_file(env)


def test_account_password_stores_it_and_review_uses_it(person, mailbox):
    done = run(person, "account", "test", DEMO_ACCOUNT)
    assert done.returncode == 2
    assert f"run `primsync account password {DEMO_ACCOUNT}`" in done.stderr
    done = run(person, "account", "password", DEMO_ACCOUNT, "--password-stdin",
               stdin=PASSWORD + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"the password of {DEMO_ACCOUNT} is in the system keyring "
        f"(keyrings.alt.file.PlaintextKeyring); next: primsync account test {DEMO_ACCOUNT}\n"
    )
    assert PASSWORD not in done.stdout + done.stderr
    done = run(person, "account", "test", DEMO_ACCOUNT)
    assert done.returncode == 0, done.stderr
    assert in_keyring(person, DEMO_ACCOUNT)
    done = run(person, "account", "remove", DEMO_ACCOUNT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"removed {DEMO_ACCOUNT}",
        "the system keyring no longer holds its password",
    ]
    assert not in_keyring(person, DEMO_ACCOUNT)


def test_account_password_typed_at_a_prompt(person, mailbox, tmp_path):
    """The prompt as a person meets it: getpass reads the terminal (a pseudo-terminal here)."""
    from tests.test_readme_walk import typed

    argv = [sys.executable, "-m", "primsync.cli", "account", "password", DEMO_ACCOUNT]
    code, said = typed(argv, person, tmp_path, PASSWORD)
    assert code == 0, said
    assert f"password for {DEMO_ACCOUNT} (not shown):" in said
    assert PASSWORD not in said
    assert "is in the system keyring" in said
    assert run(person, "account", "test", DEMO_ACCOUNT).returncode == 0


def test_no_usable_keyring_is_one_line_naming_keyrings_alt(person):
    env = {**person, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    done = run(env, "account", "password", DEMO_ACCOUNT, "--password-stdin", stdin="x\n")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "no usable system keyring" in line
    assert "keyrings.alt" in line and "PYTHON_KEYRING_BACKEND" in line
    assert "Traceback" not in done.stderr


def test_an_oauth_account_is_sent_to_login(person, db):
    add_account(db, "boss@contoso.example", type("S", (), {"host": "127.0.0.1", "port": 1}),
                "boss", provider="outlook", auth="xoauth2")  # fmt: skip
    done = run(person, "account", "password", "boss@contoso.example", "--password-stdin",
               stdin="x\n")  # fmt: skip
    assert done.returncode == 2
    assert "run `primsync login boss@contoso.example`" in done.stderr


def test_account_edit_corrects_a_wrong_port_and_keeps_the_imported_mail(person, mailbox, db):
    good = str(mailbox.port)
    done = run(person, "account", "edit", DEMO_ACCOUNT, "--port", "1")
    assert (done.returncode, done.stdout) == (0, f"{DEMO_ACCOUNT}: port {good} → 1\n")
    env = {**person, "PRIMSYNC_PASSWORD": PASSWORD}
    assert run(env, "account", "test", DEMO_ACCOUNT).returncode == 3
    done = run(person, "account", "edit", DEMO_ACCOUNT, "--port", good, "--owner", "tom")
    assert done.returncode == 2 and "no user with login 'tom'" in done.stderr
    done = run(person, "account", "edit", DEMO_ACCOUNT, "--port", good)
    assert done.returncode == 0
    assert run(env, "account", "test", DEMO_ACCOUNT).returncode == 0
    done = run(env, "import", "--account", DEMO_ACCOUNT, "--folder", "INBOX", "--option", "all",
               "--user", "ana", "--accessible-to", "Recruiters")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run(person, "account", "edit", DEMO_ACCOUNT, "--security", "ssl", "--port", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{DEMO_ACCOUNT}: port {good} → 1",
        f"{DEMO_ACCOUNT}: security none → ssl",
    ]
    done = run(person, "account", "edit", DEMO_ACCOUNT, "--security", "none", "--host",
               "mail.agency.example")  # fmt: skip
    assert done.returncode == 2
    assert "plain IMAP (security none) is refused to mail.agency.example" in done.stderr
    done = run(person, "account", "edit", DEMO_ACCOUNT)
    assert done.returncode == 2 and "nothing to change" in done.stderr
    listed = run(person, "account", "list", "--format", "csv").stdout
    assert f"{DEMO_ACCOUNT},imap,127.0.0.1,1,ssl,password,ana,ana," in listed

"""credentials: keyring → environment → prompt, and a failing keyring is said, not hidden.

The keyring is the real ``keyring`` package with an in-memory backend plugged in through its
public ``set_keyring``."""

from __future__ import annotations

import logging

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

from primsync.credentials import KEYRING_SERVICE, resolve_secret
from primsync.errors import ConfigurationError

ADDRESS = "ana@agency.example"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self, locked: bool = False):
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.locked = locked

    def get_password(self, service, username):
        if self.locked:
            raise KeyringLocked("the keychain is locked; secret-in-message-7f3a")
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        self.items.pop((service, username), None)


@pytest.fixture
def ring(monkeypatch):
    monkeypatch.delenv("PRIMSYNC_PASSWORD", raising=False)
    monkeypatch.delenv("PRIMSYNC_TOKEN", raising=False)
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def test_keyring_then_environment_then_prompt(ring, monkeypatch):
    asked = []

    def prompt(question):
        asked.append(question)
        return "typed"

    assert resolve_secret(ADDRESS, prompt=prompt) == "typed"
    assert asked == [f"password for {ADDRESS}: "]
    monkeypatch.setenv("PRIMSYNC_PASSWORD", "from-env")
    assert resolve_secret(ADDRESS, prompt=prompt) == "from-env"
    keyring.set_password(KEYRING_SERVICE, ADDRESS, "from-keyring")
    assert resolve_secret(ADDRESS, prompt=prompt) == "from-keyring"
    assert ring.items == {("primsync", ADDRESS): "from-keyring"}
    assert len(asked) == 1


def test_xoauth2_reads_the_token_variable(ring, monkeypatch):
    monkeypatch.setenv("PRIMSYNC_PASSWORD", "a-password")
    monkeypatch.setenv("PRIMSYNC_TOKEN", "a-token")
    assert resolve_secret(ADDRESS, auth="xoauth2") == "a-token"
    monkeypatch.delenv("PRIMSYNC_TOKEN")
    with pytest.raises(ConfigurationError, match=r"no access token: .*\$PRIMSYNC_TOKEN"):
        resolve_secret(ADDRESS, auth="xoauth2")


def test_no_keyring_at_all_is_quiet_and_the_error_says_where_to_put_it(monkeypatch, caplog):
    from keyring.backends import fail

    monkeypatch.delenv("PRIMSYNC_PASSWORD", raising=False)
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(ConfigurationError) as err:
            resolve_secret(ADDRESS)
    finally:
        keyring.set_keyring(before)
    assert str(err.value) == (
        "no password: run `primsync account password ana@agency.example`, "
        "set $PRIMSYNC_PASSWORD, or give it on standard input (--password-stdin) "
        "(account ana@agency.example)"
    )
    assert caplog.records == []


def test_a_failing_keyring_is_said_and_the_environment_still_works(ring, monkeypatch, caplog):
    ring.locked = True
    caplog.set_level(logging.WARNING, logger="primsync.credentials")
    failed = r"^no password \(the system keyring failed \(KeyringLocked\)\): run `primsync account "
    with pytest.raises(ConfigurationError, match=failed):
        resolve_secret(ADDRESS)
    (record,) = caplog.records
    assert record.getMessage() == (
        "the system keyring failed (KeyringLocked) for ana@agency.example; "
        "trying the environment next"
    )
    assert "secret-in-message" not in caplog.text  # the backend's own message is not repeated
    monkeypatch.setenv("PRIMSYNC_PASSWORD", "from-env")
    assert resolve_secret(ADDRESS) == "from-env"

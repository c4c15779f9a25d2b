"""Accounts: presets, and `primsync account add/list/test/remove` as a person types them, on
both databases."""

from __future__ import annotations

import json
import subprocess

import pytest

from primsync.accounts import account_settings, guess_provider
from primsync.commit import import_selected
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError
from primsync.review import review_mailbox
from primsync.selection import choose_rows
from tests.conftest import PASSWORD
from tests.forkserver import PRIMSYNC


@pytest.mark.parametrize(
    ("address", "provider", "expected"),
    [
        ("ana@gmail.com", None, ("imap.gmail.com", 993, "ssl", "xoauth2", "gmail")),
        ("ana@googlemail.com", None, ("imap.gmail.com", 993, "ssl", "xoauth2", "gmail")),
        ("bo@hotmail.com", None, ("outlook.office365.com", 993, "ssl", "xoauth2", "outlook")),
        (
            "bo@contoso.example",
            "microsoft",
            ("outlook.office365.com", 993, "ssl", "xoauth2", "outlook"),
        ),
        (
            "bo@contoso.example",
            "Office365",
            ("outlook.office365.com", 993, "ssl", "xoauth2", "outlook"),
        ),
        ("cy@yahoo.co.uk", None, ("imap.mail.yahoo.com", 993, "ssl", "password", "imap")),
        ("di@me.com", None, ("imap.mail.me.com", 993, "ssl", "password", "imap")),
        ("ed@fastmail.com", None, ("imap.fastmail.com", 993, "ssl", "password", "imap")),
        ("fi@gmx.de", None, ("imap.gmx.net", 993, "ssl", "password", "imap")),
        ("gu@zoho.com", None, ("imap.zoho.com", 993, "ssl", "password", "imap")),
        ("ha@agency.example", "ovh", ("ssl0.ovh.net", 993, "ssl", "password", "imap")),
    ],
)
def test_presets_by_provider_or_domain(address, provider, expected):
    settings, stored, _note = account_settings(address, provider=provider)
    assert (settings.host, settings.port, settings.security, settings.auth, stored) == expected
    assert settings.username == address.lower()


def test_everything_stays_overridable():
    settings, stored, _ = account_settings(
        "Ana@Gmail.com",
        host="imap.example.net",
        port=143,
        security="starttls",
        username="ana.m",
        auth="password",
    )
    assert (settings.address, settings.host, settings.port, settings.security) == (
        "ana@gmail.com",
        "imap.example.net",
        143,
        "starttls",
    )
    assert (settings.username, settings.auth, stored) == ("ana.m", "password", "gmail")
    assert guess_provider("x@unknown.example") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": "not-an-address"}, "not a mail address: 'not-an-address'"),
        ({"address": "a@corp.example"}, "no preset for corp.example (nor an MX record"),
        (
            {"address": "a@corp.example", "provider": "aol2"},
            "unknown provider 'aol2'; choose one of imap, gmail",
        ),
        ({"address": "a@gmail.com", "port": 0}, "port 0 is out of range (1 to 65535)"),
        ({"address": "a@gmail.com", "port": 70000}, "port 70000 is out of range"),
        ({"address": "a@gmail.com", "security": "tls"}, "unknown security 'tls'"),
        ({"address": "a@gmail.com", "auth": "oauth"}, "unknown auth 'oauth'"),
        (
            {"address": "a@corp.example", "host": "mail.corp.example", "security": "none"},
            "plain IMAP (security none) is refused to mail.corp.example",
        ),
        (
            {"address": "a@gmail.com", "ca_file": "/nonexistent/ca.pem"},
            "no CA file at /nonexistent/ca.pem",
        ),
    ],
)
def test_what_a_user_types_wrong_is_one_clear_error(kwargs, message):
    with pytest.raises(ConfigurationError) as err:
        account_settings(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def primsync(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PRIMSYNC, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_account_add_list_remove_from_the_command_line(db):
    db_url = url(db)
    out = primsync(
        "account",
        "add",
        "Boss@Contoso.example",
        "--owner",
        "ana",
        "--provider",
        "microsoft",
        "--db",
        db_url,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "registered boss@contoso.example: outlook.office365.com:993 (ssl), login "
        "boss@contoso.example, auth xoauth2, owner ana",
        "next: primsync login boss@contoso.example",
    ]
    for args, message in [
        (["boss@contoso.example", "--owner", "ana"], "boss@contoso.example is already registered"),
        (["x@corp.example", "--owner", "ana", "--provider", "nope"], "unknown provider 'nope'"),
        (
            ["x@corp.example", "--owner", "ana", "--host", "h.example", "--port", "70000"],
            "port 70000 is out of range",
        ),
        (
            ["x@corp.example", "--owner", "ana", "--host", "192.0.2.10", "--security", "none"],
            "plain IMAP (security none) is refused to 192.0.2.10",
        ),
        (["x@corp.example", "--owner", "zoe", "--host", "h.example"], "no user with login 'zoe'"),
    ]:
        out = primsync("account", "add", *args, "--db", db_url)
        assert out.returncode == 2, (args, out.stderr)
        (line,) = out.stderr.strip().splitlines()
        assert message in line
    listed = json.loads(primsync("account", "list", "--format", "json", "--db", db_url).stdout)
    assert [(a["address"], a["provider"], a["owner"]) for a in listed] == [
        ("boss@contoso.example", "outlook", "ana"),
        (DEMO_ACCOUNT, "imap", "ana"),
    ]
    out = primsync("account", "remove", "BOSS@contoso.example", "--db", db_url)
    assert (out.returncode, out.stdout.strip()) == (0, "removed boss@contoso.example")


def test_account_test_says_what_the_server_offers(db):
    out = primsync(
        "account", "test", DEMO_ACCOUNT, "--password-stdin", "--db", url(db), stdin=PASSWORD + "\n"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("server:  127.0.0.1:") and "auth password" in lines[0]
    assert lines[1] == "folders: 4; sent folder: Sent"
    assert lines[2] == (
        "offers:  CONDSTORE yes, QRESYNC yes, COMPRESS=DEFLATE yes, SPECIAL-USE yes, X-GM-EXT-1 no"
    )
    assert lines[3] == "OK: logged in, listed 4 folders, sent folder 'Sent'"
    bad = primsync(
        "account",
        "test",
        DEMO_ACCOUNT,
        "--password-stdin",
        "--db",
        url(db),
        stdin="wrong-password\n",
    )
    assert bad.returncode == 3 and "wrong-password" not in bad.stderr
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("primsync account: error: login refused") and DEMO_ACCOUNT in line
    assert "b'" not in line and "[AUTHENTICATIONFAILED]" in line  # the server's words, as said


def test_remove_refuses_while_imported_mail_points_at_the_account(db):
    review = review_mailbox(db, DEMO_ACCOUNT, ["INBOX"], option="all", secret=PASSWORD)
    import_selected(
        db,
        review,
        choose_rows(review.frame),
        user="ana",
        accessible_to="Recruiters",
        secret=PASSWORD,
    )
    out = primsync("account", "remove", DEMO_ACCOUNT, "--db", url(db))
    assert out.returncode == 2
    assert "2 imported messages point at recruiter@agency.example: add --delete-messages" in (
        out.stderr
    )
    primsync(
        "account",
        "add",
        "archive@agency.example",
        "--owner",
        "ana",
        "--host",
        "127.0.0.1",
        "--security",
        "none",
        "--db",
        url(db),
    )
    out = primsync(
        "account",
        "remove",
        DEMO_ACCOUNT,
        "--move-messages-to",
        "archive@agency.example",
        "--db",
        url(db),
    )
    assert out.stdout.strip() == (
        "removed recruiter@agency.example; 2 imported messages moved to archive@agency.example"
    )
    listed = json.loads(primsync("account", "list", "--format", "json", "--db", url(db)).stdout)
    assert [(a["address"], a["imported"]) for a in listed] == [("archive@agency.example", 2)]
    out = primsync(
        "account", "remove", "archive@agency.example", "--delete-messages", "--db", url(db)
    )
    assert out.stdout.strip() == "removed archive@agency.example; 2 imported messages deleted"
    from primsync.db.access import visible_messages

    assert visible_messages(db, "dora").empty

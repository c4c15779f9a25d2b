"""Providers recognised where they really are: by IMAP host, by the domain's MX records, by
its autoconfig document — through the tests' DNS server on loopback, never a real resolver."""

from __future__ import annotations

import pytest

from primsync.accounts import account_settings
from primsync.discover import discover
from tests.dns_server import AutoconfigSite
from tests.test_accounts import primsync, url


@pytest.fixture
def zone(dns_server):
    before = dict(dns_server.zone)
    yield dns_server.zone
    dns_server.zone.clear()
    dns_server.zone.update(before)


AUTOCONFIG = b"""<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="firm.example">
<incomingServer type="pop3"><hostname>pop.firm.example</hostname></incomingServer>
<incomingServer type="imap"><hostname>mail.firm.example</hostname><port>993</port>
<socketType>SSL</socketType><username>%EMAILADDRESS%</username>
<authentication>password-cleartext</authentication></incomingServer>
</emailProvider></clientConfig>"""


@pytest.fixture
def autoconfig_site():
    """firm.example's autoconfig document, served where ``autoconfig.firm.example`` is."""
    from tests.dns_server import AutoconfigSite

    try:
        site = AutoconfigSite({"autoconfig.firm.example": AUTOCONFIG})
    except OSError as exc:  # port 80 needs root (CI runs as root)
        pytest.skip(f"cannot serve autoconfig on port 80 ({exc.strerror})")
    yield site.asked
    site.close()


def test_presets_by_imap_host():
    settings, provider, _ = account_settings("ana@agency.com", host="imap.gmail.com")
    assert (provider, settings.auth, settings.port) == ("gmail", "xoauth2", 993)
    settings, provider, _ = account_settings("ana@agency.com", host="Outlook.Office365.com")
    assert (provider, settings.auth) == ("outlook", "xoauth2")
    settings, provider, _ = account_settings("ana@agency.com", host="imap.gmail.com",
                                             auth="password")  # fmt: skip
    assert (provider, settings.auth) == ("gmail", "password")


def test_mx_records_name_google_workspace_and_microsoft_365(zone):
    zone[("agency.com.", "MX")] = ["10 aspmx.l.google.com.", "20 alt1.aspmx.l.google.com."]
    zone[("contoso.example.", "MX")] = ["0 contoso-example.mail.protection.outlook.com."]
    found = discover("ana@agency.com")
    assert (found.preset, found.how) == (
        "gmail",
        "MX of agency.com is Google's: Google Workspace, sign-in with Google",
    )
    assert discover("bo@contoso.example").preset == "outlook"


def test_nothing_found_keeps_the_one_line_advice(zone):
    zone[("quiet.example.", "MX")] = ["10 mx.quiet.example."]
    assert discover("ana@quiet.example") is None
    assert discover("ana@nowhere.example") is None


def test_account_add_says_what_it_found_and_how(db, zone):
    zone[("agency.com.", "MX")] = ["1 smtp.google.com."]
    out = primsync("account", "add", "ana@agency.com", "--owner", "ana", "--db", url(db))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "found: MX of agency.com is Google's: Google Workspace, sign-in with Google",
        "registered ana@agency.com: imap.gmail.com:993 (ssl), login ana@agency.com, auth "
        "xoauth2, owner ana",
        "next: primsync login ana@agency.com",
    ]
    listed = primsync("account", "list", "--db", url(db), "--format", "csv").stdout
    assert "ana@agency.com,gmail,imap.gmail.com,993,ssl,xoauth2" in listed
    out = primsync("account", "add", "x@unknown-corp.example", "--owner", "ana", "--db", url(db))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "primsync account: error: no preset for unknown-corp.example (nor an MX record or "
        "autoconfig document naming one): give --host (and --port, --security if they are not "
        "993 and ssl), or --provider"
    )


def test_the_autoconfig_document_of_the_domain(db, zone, autoconfig_site):
    zone[("firm.example.", "MX")] = ["10 mx.firm.example."]
    zone[("autoconfig.firm.example.", "A")] = [AutoconfigSite.ADDRESS]
    found = discover("Lea@firm.example".lower())
    assert (found.host, found.port, found.security, found.username, found.auth) == (
        "mail.firm.example", 993, "ssl", "lea@firm.example", "password",
    )  # fmt: skip
    assert found.how == (
        "autoconfig of firm.example (http://autoconfig.firm.example/mail/config-v1.1.xml): "
        "mail.firm.example:993 (ssl)"
    )
    assert autoconfig_site[0] == (
        "autoconfig.firm.example/mail/config-v1.1.xml?emailaddress=lea@firm.example"
    )
    out = primsync("account", "add", "lea@firm.example", "--owner", "ana", "--db", url(db))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == [
        f"found: {found.how}",
        "registered lea@firm.example: mail.firm.example:993 (ssl), login lea@firm.example, "
        "auth password, owner ana",
    ]

"""XOAUTH2 against Dovecot's oauth2 passdb with a local RFC 7662 introspection endpoint.

The token provider is the test's own (``primsync.oauth.TokenProvider``: what a notebook may pass
as ``secret``); the SASL exchange and the token check are real. The providers primsync builds
from a sign-in (MSAL, google-auth) meet a stand-in sign-in service in ``test_signin.py``."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy.orm import Session

from primsync.db.models import MailAccount
from primsync.errors import AuthenticationError
from primsync.imap import ConnectionSettings, connect
from primsync.oauth import AccessToken
from primsync.review import review_mailbox
from primsync.servers import free_port
from tests.conftest import add_account
from tests.servers import DovecotServer

GOOD = "good-access-token-1c0ffee"
ACCOUNT = "ana.oauth@agency.example"


class Introspection(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        token = parse_qs(body).get("token", [""])[0]
        Introspection.seen.append(token)
        answer = {"active": True, "username": "ana"} if token == GOOD else {"active": False}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def oauth_dovecot():
    if DovecotServer.binary() is None:
        pytest.skip("dovecot is not installed")
    port = free_port()
    endpoint = HTTPServer(("127.0.0.1", port), Introspection)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    try:
        with DovecotServer(
            {"ana": "plain-pw"}, oauth2_introspection_url=f"http://127.0.0.1:{port}/introspect"
        ) as server:
            settings = ConnectionSettings(address=ACCOUNT, host=server.host, port=server.port,
                                          username="ana", security="none")  # fmt: skip
            with connect(settings, "plain-pw") as box:
                box.append(
                    "INBOX", b"From: lea.dubois@mail.example\r\nSubject: hi\r\n\r\nhello\r\n"
                )
            yield server
    finally:
        endpoint.shutdown()
        endpoint.server_close()


class Refreshing:
    """A provider whose first token the server no longer takes (its library believes in it);
    a forced refresh gives ``refreshed``."""

    def __init__(self, refreshed: str):
        self.refreshed, self.calls = refreshed, []

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        self.calls.append(force_refresh)
        if force_refresh:
            return AccessToken(self.refreshed, datetime.now(UTC) + timedelta(hours=1))
        return AccessToken("expired-token", datetime.now(UTC) + timedelta(minutes=5))


@pytest.fixture
def oauth_db(db, oauth_dovecot):
    add_account(db, ACCOUNT, oauth_dovecot, "ana", auth="xoauth2")
    return db


def test_an_expired_token_is_refreshed_once_and_its_expiry_recorded(oauth_db):
    Introspection.seen.clear()
    provider = Refreshing(GOOD)
    result = review_mailbox(oauth_db, ACCOUNT, ["INBOX"], option="all", secret=provider)
    assert len(result.all_rows) == 1
    assert Introspection.seen == ["expired-token", GOOD]
    assert provider.calls == [False, True]
    with Session(oauth_db) as session:
        expires = session.query(MailAccount).filter_by(address=ACCOUNT).one().token_expires_at
    assert expires is not None


def test_a_token_refused_after_one_refresh_fails_clearly(oauth_db):
    Introspection.seen.clear()
    provider = Refreshing("still-not-valid")
    with pytest.raises(AuthenticationError) as err:
        review_mailbox(oauth_db, ACCOUNT, ["INBOX"], option="all", secret=provider)
    message = str(err.value)
    assert "refused the access token, also after one refresh" in message and ACCOUNT in message
    assert "still-not-valid" not in message and "expired-token" not in message
    assert Introspection.seen == ["expired-token", "still-not-valid"]

"""App-only access (`--auth app`): the organisation consents once, nobody signs in. The real
msal (client credentials, with a secret or a certificate) and google-auth (a service account's
JWT bearer grant, RFC 7523, acting as the mailbox) against the tests' identity provider, whose
tokens Dovecot checks; each step a command a person types."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from primsync.db.engine import open_engine
from primsync.db.models import ImportedMessage
from tests.conftest import oauth_accounts_url
from tests.forkserver import PRIMSYNC
from tests.idp import GMAIL, M365

pytest.importorskip("msal")
pytest.importorskip("google.oauth2.service_account")
cryptography = pytest.importorskip("cryptography")


def key_and_certificate(folder, name: str) -> tuple[bytes, bytes]:
    """A fresh RSA key (PEM) and a self-signed certificate for it (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem_key, cert.public_bytes(serialization.Encoding.PEM)


def run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PRIMSYNC, *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def engine(backend, templates, oauth_imap, tmp_path):
    """The database where the administrator registered the two accounts for app-only access
    with the command line (the demo's records, then `primsync account add ... --auth app`):
    made so once per session and copied for each test."""
    made = open_engine(oauth_accounts_url(
        templates, backend, tmp_path, oauth_imap, "--auth", "app",
        said="next: primsync account test {address}",
    ))  # fmt: skip
    yield made
    made.dispose()


@pytest.fixture
def admin(engine, idp, tmp_path):
    """What the organisation's administrator configured (README: App-only access): the app
    registration's id and secret, the service account's key file; the accounts registered
    (``engine``)."""
    key, _ = key_and_certificate(tmp_path, "primsync service account")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    public = load_pem_private_key(key, None).public_key()
    from cryptography.hazmat.primitives import serialization

    idp.state.service_account_key = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({
        "type": "service_account", "project_id": "primsync-test", "private_key_id": "k1",
        "private_key": key.decode(), "client_email": "primsync@primsync-test.example",
        "client_id": "1234567890", "token_uri": f"{idp.base}/token",
    }))  # fmt: skip
    env = {
        **os.environ,
        "PRIMSYNC_DB": engine.url.render_as_string(hide_password=False),
        "REQUESTS_CA_BUNDLE": str(idp.ca_file),
        "PRIMSYNC_MS_CLIENT_ID": "99999999-2222-3333-4444-555555555555",
        "PRIMSYNC_MS_AUTHORITY": idp.authority,
        "PRIMSYNC_MS_CLIENT_SECRET": idp.state.app_secret,
        "PRIMSYNC_GOOGLE_SERVICE_ACCOUNT": str(key_file),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "keyring"),
    }
    for name in ("PRIMSYNC_TOKEN", "PRIMSYNC_PASSWORD"):
        env.pop(name, None)
    idp.state.app_mailbox_access = idp.state.delegated = True
    idp.state.app_certificate = None
    yield env
    idp.state.service_account_key = None


def sync(env, address):
    return run(env, "sync", "--account", address, "--folder", "INBOX", "--option", "all",
               "--select", "all", "--accessible-to", "Recruiters", "--user", "ana")  # fmt: skip


def check_then_sync(env, engine, idp, address: str, grant: str, admin) -> None:
    """`account test`, then `sync`: the one message imported through ``grant``; no secret of
    ``admin``'s configuration kept anywhere."""
    checked = run(env, "account", "test", address)
    assert checked.returncode == 0, checked.stderr
    done = sync(env, address)
    assert done.returncode == 0, done.stderr
    assert imported(engine) == 1
    assert f"POST /token {grant}" in idp.state.requests
    no_secret_kept(engine, admin, checked.stdout + checked.stderr, done.stdout + done.stderr)


def imported(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ImportedMessage))


def no_secret_kept(engine, env, *outputs: str) -> None:
    """Neither the app's secret nor a key is in the database or what the commands said."""
    secrets_ = [env["PRIMSYNC_MS_CLIENT_SECRET"], "PRIVATE KEY"]
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if engine.dialect.name == "sqlite" else
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]  # fmt: skip
        dump = "".join(
            str(row) for t in tables for row in conn.execute(text(f'SELECT * FROM "{t}"'))
        )
    for secret in secrets_:
        assert secret not in dump
        assert all(secret not in out for out in outputs)


@pytest.mark.parametrize("credential", ["secret", "certificate"])
def test_microsoft_app_only_reads_the_mailbox_nobody_signs_in(
    admin, engine, idp, tmp_path, credential
):
    env = dict(admin)
    if credential == "certificate":
        key, cert = key_and_certificate(tmp_path, "primsync app")
        idp.state.app_certificate = cert
        (tmp_path / "app.pem").write_bytes(key + cert)
        env["PRIMSYNC_MS_CLIENT_CERTIFICATE"] = str(tmp_path / "app.pem")
        del env["PRIMSYNC_MS_CLIENT_SECRET"]
    check_then_sync(env, engine, idp, M365, "client_credentials", admin)
    health = run(env, "health", "--account", M365, "--format", "json")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)[0]["token_expires_at"]  # when the app's token runs out


def test_microsoft_app_only_refusals_are_one_line(admin, engine, idp):
    wrong = {**admin, "PRIMSYNC_MS_CLIENT_SECRET": "not-the-secret-42"}
    refused = sync(wrong, M365)
    assert refused.returncode == 3
    assert "Microsoft refused the app's sign-in: AADSTS7000215" in refused.stderr
    assert "not-the-secret-42" not in refused.stderr and "Traceback" not in refused.stderr
    idp.state.app_mailbox_access = False  # the administrator has not given the mailbox yet
    denied = sync(admin, M365)
    assert denied.returncode == 3 and "login refused" in denied.stderr
    missing = {k: v for k, v in admin.items() if k != "PRIMSYNC_MS_CLIENT_SECRET"}
    unset = sync(missing, M365)
    assert unset.returncode == 2 and "PRIMSYNC_MS_CLIENT_CERTIFICATE" in unset.stderr
    assert imported(engine) == 0
    said = run(admin, "account", "password", M365, "--password-stdin")
    assert said.returncode == 2 and "app-only access" in said.stderr
    said = run(admin, "login", M365)
    assert said.returncode == 2 and "nobody signs in" in said.stderr


def test_google_workspace_service_account_acts_as_the_mailbox(admin, engine, idp):
    jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    check_then_sync(admin, engine, idp, GMAIL, jwt_bearer, admin)
    issued = [i for i in idp.state.access.values() if i.get("kind") == "delegated"]
    assert issued and {i["subject"] for i in issued} == {GMAIL}  # acting as the mailbox
    idp.state.delegated = False  # the domain-wide delegation withdrawn
    refused = sync(admin, GMAIL)
    assert refused.returncode == 3
    assert "Google refused the service account's token" in refused.stderr
    assert "domain-wide delegation" in refused.stderr


def test_a_notebook_opens_an_app_only_account_without_asking(admin, engine, monkeypatch):
    from primsync import open_session, review_mailbox
    from primsync.widgets.account import AccountStep

    for name in ("REQUESTS_CA_BUNDLE", "PRIMSYNC_MS_CLIENT_ID", "PRIMSYNC_MS_AUTHORITY",
                 "PRIMSYNC_MS_CLIENT_SECRET", "PRIMSYNC_GOOGLE_SERVICE_ACCOUNT"):  # fmt: skip
        monkeypatch.setenv(name, admin[name])

    def never(_text: str) -> str:
        raise AssertionError("nothing should be asked of anyone")

    session = open_session(account=M365, db=admin["PRIMSYNC_DB"], prompt=never)
    try:
        assert session.secret is not None and not isinstance(session.secret, str)
        review = review_mailbox(session.engine, M365, ["INBOX"], option="all",
                                secret=session.secret)  # fmt: skip
        assert len(review.frame) == 1
        chosen: list[tuple[str, object]] = []
        step = AccountStep(session.engine, "ana", M365, secret=session.secret,
                           on_change=lambda a, s: chosen.append((a, s)))  # fmt: skip
        step.choice.value = GMAIL  # the account picker moves to the Google one
        assert step.password.layout.display == "none"
        assert step.sign_in_button.layout.display == "none"
        assert chosen and chosen[-1][0] == GMAIL and chosen[-1][1] is not None
    finally:
        session.engine.dispose()

"""OAuth2 sign-in with the real msal and google-auth-oauthlib libraries, against a local
identity provider over HTTPS (a private CA, tests/idp.py) whose access tokens Dovecot's oauth2
passdb checks: sign in once, then runs that need nothing more, even after the access token has
expired; a revoked consent ends a run with exit 3 and one line of advice. Each step is the
command line a person types."""

from __future__ import annotations

import os
import re
import select
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from primsync.db.engine import open_engine
from primsync.db.models import ImportedMessage
from tests.conftest import oauth_accounts_url
from tests.forkserver import PRIMSYNC
from tests.idp import GMAIL, M365, IdentityProvider

pytest.importorskip("msal")
pytest.importorskip("google_auth_oauthlib")
pytest.importorskip("keyrings.alt")


@pytest.fixture
def engine(backend, templates, oauth_imap, tmp_path):
    """The database of a person who registered the two accounts with the command line (the
    demo's records, then `primsync account add` for each): made so once per session and copied
    for each test, as the other databases of the suite are."""
    made = open_engine(oauth_accounts_url(templates, backend, tmp_path, oauth_imap))
    yield made
    made.dispose()


@pytest.fixture
def person(engine, idp, tmp_path):
    """The environment of a person who set up the app registration (README) and a file keyring
    (a server without a desktop keyring), with the accounts registered (``engine``)."""
    env = {
        **os.environ,
        "PRIMSYNC_DB": engine.url.render_as_string(hide_password=False),
        "REQUESTS_CA_BUNDLE": str(idp.ca_file),
        "PRIMSYNC_MS_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        "PRIMSYNC_MS_AUTHORITY": idp.authority,
        "PRIMSYNC_GOOGLE_CLIENT_SECRETS": str(idp.google_client_secrets()),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(tmp_path / "keyring"),
    }
    env.pop("PRIMSYNC_TOKEN", None)
    env.pop("PRIMSYNC_PASSWORD", None)
    idp.state.lifetime = 3600
    return env


def run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PRIMSYNC, *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def login(env, address: str, act) -> tuple[int, str]:
    """`primsync login ADDRESS`, with ``act(line)`` playing the person on each line it prints."""
    command = [*PRIMSYNC, "login", address]
    out = []
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 1)
            if ready:
                line = process.stdout.readline()
                if not line:
                    break
                out.append(line)
                act(line)
        process.wait(timeout=30)
    return process.returncode, "".join(out)


def https(idp):
    context = ssl.create_default_context(cafile=str(idp.ca_file))

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # the test follows the redirect itself, as a browser would

    return urllib.request.build_opener(Stay, urllib.request.HTTPSHandler(context=context))


def approve_device_code(idp):
    def act(line):
        code = re.search(r"enter the code (\w+)", line)
        if code:
            with https(idp).open(f"{idp.base}/device?user_code={code.group(1)}") as page:
                page.read()

    return act


def _google_redirect(idp, line: str) -> str | None:
    """The person opens the address a login printed on ``line`` (if any): where the provider
    sends the browser back to."""
    link = re.search(r"allow access: (https://\S+)", line)
    if link is None:
        return None
    with pytest.raises(urllib.error.HTTPError) as answer:
        https(idp).open(link.group(1))
    assert answer.value.code == 302
    back = answer.value.headers["Location"]
    answer.value.close()
    assert back.startswith("http://localhost:")  # the loopback redirect
    return back


def follow_google_link(idp):
    def act(line):
        back = _google_redirect(idp, line)
        if back:
            with urllib.request.urlopen(back) as page:
                assert b"primsync is signed in" in page.read()

    return act


def imported(engine) -> int:
    with Session(engine) as session:
        return session.scalar(sql_select(func.count()).select_from(ImportedMessage))


def issued_secrets(idp) -> list[str]:
    return [*idp.state.access, *idp.state.refresh]


def sync(env, address):
    return run(env, "sync", "--account", address, "--folder", "INBOX", "--option", "all",
               "--select", "all", "--accessible-to", "Recruiters", "--user", "ana")  # fmt: skip


@pytest.mark.parametrize(
    ("address", "act"), [(M365, approve_device_code), (GMAIL, follow_google_link)]
)
def test_sign_in_once_then_runs_last_past_the_token_and_a_revocation_says_so(
    person, idp, engine, address, act, tmp_path
):
    idp.state.lifetime = 1  # the access token of the sign-in is as good as expired when issued
    # (both libraries refresh a token minutes before its end: no waiting for it)
    code, said = login(person, address, act(idp))
    assert code == 0, said
    assert f"signed in: {address}" in said and "kept in the system keyring" in said
    idp.state.lifetime = 3600  # the next run must get a fresh one by itself
    refreshes = idp.state.requests.count("POST /token refresh_token")
    done = sync(person, address)
    assert done.returncode == 0, "\n".join([done.stderr, *idp.state.requests])
    assert imported(engine) == 1
    assert idp.state.requests.count("POST /token refresh_token") == refreshes + 1
    health = run(person, "health", "--account", address, "--format", "json")
    assert health.returncode == 0 and "token_expires_at" in health.stdout

    # the sign-in is kept under the provider's one name (mail_account's); one kept under the
    # name of before (microsoft, google) still serves the runs below
    rename = ("import json, keyring; key = 'oauth:" + address + "'; "
              "kept = json.loads(keyring.get_password('primsync', key)); "
              "print(kept['provider']); "
              "kept['provider'] = {'gmail': 'google', 'outlook': 'microsoft'}[kept['provider']]; "
              "keyring.set_password('primsync', key, json.dumps(kept))")  # fmt: skip
    named = subprocess.run([sys.executable, "-c", rename], env=person, capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert named.stdout.strip() == ("outlook" if address == M365 else "gmail")

    # the server refuses a token the library still believes in: refreshed once, and on
    with idp.state.lock:
        for info in idp.state.access.values():
            info["exp"] = 0
    again = sync(person, address)  # nothing new to import, and no question asked
    assert again.returncode == 0, again.stderr
    assert idp.state.requests.count("POST /token refresh_token") == refreshes + 2

    idp.state.revoke_all()  # the user (or an admin) withdrew the consent
    refused = sync(person, address)
    assert refused.returncode == 3
    (line,) = refused.stderr.strip().splitlines()[-1:]
    assert f"run `primsync login {address}` again" in line
    assert imported(engine) == 1  # nothing half-imported

    # no token or refresh token in the database, the output, or the logs
    everything = said + done.stdout + done.stderr + again.stderr + refused.stderr + health.stdout
    if engine.dialect.name == "sqlite":
        from pathlib import Path

        database = Path(engine.url.database).read_bytes()
        wal = Path(engine.url.database + "-wal")
        database += wal.read_bytes() if wal.exists() else b""
    else:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT * FROM mail_account").all()
            rows += conn.exec_driver_sql("SELECT * FROM sync_run").all()
        database = repr(rows).encode()
    for secret in issued_secrets(idp):
        assert secret not in everything
        assert secret.encode() not in database


def test_login_speaks_plainly_when_something_is_missing(person, idp):
    no_client = {**person, "PRIMSYNC_MS_CLIENT_ID": ""}
    done = run(no_client, "login", M365)
    assert done.returncode == 2
    assert "set PRIMSYNC_MS_CLIENT_ID to your organisation's app registration" in done.stderr
    no_keyring = {**person, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    done = run(no_keyring, "login", GMAIL)
    assert done.returncode == 2 and "no usable system keyring" in done.stderr
    assert "keyrings.alt" in done.stderr and "PYTHON_KEYRING_BACKEND" in done.stderr
    never = run(person, "sync", "--account", M365, "--folder", "INBOX", "--accessible-to",
                "Recruiters")  # fmt: skip
    assert never.returncode == 2 and "no access token" in never.stderr


def test_a_signed_in_account_in_the_sync_notebook_leaves_no_token_in_it(
    person, idp, engine, tmp_path, monkeypatch
):
    papermill = pytest.importorskip("papermill")
    from tests.conftest import ROOT

    code, said = login(person, M365, approve_device_code(idp))
    assert code == 0, said
    for key in ("PRIMSYNC_DB", "REQUESTS_CA_BUNDLE", "PRIMSYNC_MS_CLIENT_ID",
                "PRIMSYNC_MS_AUTHORITY", "PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME"):  # fmt: skip
        monkeypatch.setenv(key, person[key])
    monkeypatch.delenv("PRIMSYNC_PASSWORD", raising=False)
    out = tmp_path / "sync.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "01_sync.ipynb"), str(out), cwd=str(tmp_path),
        parameters={"account": M365, "folders": ["INBOX"], "option": "all",
                    "accessible_to": "Recruiters", "select": "all"},
        kernel_name="python3", progress_bar=False, log_output=False,
    )  # fmt: skip
    written = out.read_text()
    assert "1 imported, 0 skipped" in written
    assert imported(engine) == 1
    for secret in issued_secrets(idp):
        assert secret not in written


def one_line(out: str) -> str:
    assert "Traceback" not in out, out
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return lines[-1]


def test_a_sign_in_service_whose_certificate_is_not_trusted_is_one_line(person, idp):
    untrusting = {k: v for k, v in person.items() if k != "REQUESTS_CA_BUNDLE"}
    code, out = login(untrusting, M365, lambda line: None)
    assert code == 3
    assert one_line(out) == (
        f"primsync login: error: the certificate of Microsoft's sign-in service "
        f"(127.0.0.1:{idp.port}) cannot be verified: unable to get local issuer certificate; "
        "give its CA with REQUESTS_CA_BUNDLE=FILE (a TLS-inspecting proxy's, a private one's) "
        f"(account {M365})"
    )


def test_a_company_ca_without_key_identifiers(person, engine, tmp_path):
    """An old company CA (no Authority Key Identifier): Python 3.13 refuses it (strict
    verification), in one line, exit 3; Python 3.11 and 3.12 accept it (then nobody types the
    code: the login ends at its timeout, in one line)."""
    (tmp_path / "lax").mkdir()
    with IdentityProvider(tmp_path / "lax", strict_ca=False) as lax:
        env = {**person, "REQUESTS_CA_BUNDLE": str(lax.ca_file),
               "PRIMSYNC_MS_AUTHORITY": lax.authority}  # fmt: skip
        started = time.monotonic()
        done = run(env, "login", M365, "--timeout", "2")
    assert done.returncode == 3
    line = one_line(done.stderr)
    if sys.version_info >= (3, 13):
        assert "cannot be verified: Missing Authority Key Identifier" in line
    else:
        assert line == (
            f"primsync login: error: no sign-in within 2 seconds: run `primsync login {M365}` "
            f"again (--timeout gives more time) (account {M365})"
        )
        assert time.monotonic() - started < 60


def test_login_whose_browser_never_comes_back_ends_at_its_timeout(person):
    started = time.monotonic()
    done = run(person, "login", GMAIL, "--timeout", "2")
    assert done.returncode == 3
    assert one_line(done.stderr) == (
        f"primsync login: error: the browser did not come back within 2 seconds: run `primsync "
        f"login {GMAIL}` again (--timeout gives more time) (account {GMAIL})"
    )
    assert "allow access: https://" in done.stdout  # the address was shown first
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("address", [M365, GMAIL])
def test_a_refresh_the_sign_in_service_refuses_is_said_as_such_and_asked_once(
    person, idp, address
):
    act = approve_device_code if address == M365 else follow_google_link
    idp.state.lifetime = 1  # as good as expired when issued: the next run must refresh
    code, said = login(person, address, act(idp))
    assert code == 0, said
    idp.state.lifetime = 3600
    idp.state.revoke_all()  # the refresh token is dead
    before = idp.state.requests.count("POST /token refresh_token")
    refused = sync(person, address)
    assert refused.returncode == 3
    line = one_line(refused.stderr)
    assert f"run `primsync login {address}` again" in line
    assert "the server refused" not in line  # the mail server never saw a token
    assert idp.state.requests.count("POST /token refresh_token") == before + 1  # not twice


def out_of_reach(person, idp, tmp_path) -> dict[str, str]:
    """``person``'s environment with the sign-in service unreachable (nothing listens where
    it is said to be); Dovecot still checks tokens at the real provider."""
    import json

    from primsync.servers import free_port
    from tests.idp import TENANT

    nowhere = f"https://127.0.0.1:{free_port()}"
    secrets_file = tmp_path / "google-away.json"
    client = json.loads(idp.google_client_secrets().read_text())
    client["installed"]["token_uri"] = f"{nowhere}/token"
    secrets_file.write_text(json.dumps(client))
    return {**person, "PRIMSYNC_MS_AUTHORITY": f"{nowhere}/{TENANT}",
            "PRIMSYNC_GOOGLE_CLIENT_SECRETS": str(secrets_file)}  # fmt: skip


@pytest.mark.parametrize("address", [M365, GMAIL])
def test_the_sign_in_service_out_of_reach(person, idp, engine, address, tmp_path):
    """A short outage: a run uses the access token it holds while it is valid; after its end,
    exit 3 and one line naming the service; `primsync login` likewise."""
    act = approve_device_code if address == M365 else follow_google_link
    code, said = login(person, address, act(idp))
    assert code == 0, said
    away = out_of_reach(person, idp, tmp_path)
    done = sync(away, address)
    assert done.returncode == 0, done.stderr  # the cached access token (an hour left) serves
    assert imported(engine) == 1

    idp.state.lifetime = 1  # a token as good as expired, then the service goes away
    code, said = login(person, address, act(idp))
    assert code == 0, said
    idp.state.lifetime = 3600
    done = sync(away, address)
    assert done.returncode == 3
    line = one_line(done.stderr)
    service = "Microsoft's sign-in service" if address == M365 else "Google's token endpoint"
    assert service in line and "reached (127.0.0.1:" in line, line
    if address == M365:
        done = run(away, "login", address)
        assert done.returncode == 3
        assert "Microsoft's sign-in service cannot be reached (127.0.0.1:" in one_line(done.stderr)


@pytest.fixture
def answers(idp):
    """The provider's answers switched back after each test."""
    yield idp.state
    idp.state.deny = idp.state.forged_state = False
    idp.state.device_message = idp.state.id_token = True


def follow_google_link_back(idp):
    """The person opens the address and the browser comes back, whatever the provider said."""

    def act(line):
        back = _google_redirect(idp, line)
        if back:
            try:
                with urllib.request.urlopen(back) as page:
                    page.read()
            except urllib.error.HTTPError as shown:
                shown.close()

    return act


@pytest.mark.parametrize(
    ("answer", "said"),
    [("deny", "Google's sign-in ended without access (access_denied)"),
     ("forged_state", "Google's sign-in ended without access (mismatching_state")],
)  # fmt: skip
def test_google_answers_a_person_can_cause_are_one_line(person, idp, answers, answer, said):
    setattr(answers, answer, True)
    code, out = login(person, GMAIL, follow_google_link_back(idp))
    assert code == 3, out
    line = one_line(out)
    assert line.startswith(f"primsync login: error: {said}"), line
    assert f"run `primsync login {GMAIL}` again" in line


def test_a_device_code_answer_without_message_still_shows_the_code(person, idp, answers):
    answers.device_message = False

    def act(line):
        code = re.search(r"type the code (\w+)", line)
        if code:
            with https(idp).open(f"{idp.base}/device?user_code={code.group(1)}") as page:
                page.read()

    code, out = login(person, M365, act)
    assert code == 0, out
    assert f"Open {idp.base}/device and type the code " in out


def test_a_token_answer_without_an_id_token_is_not_signed_in(person, idp, answers):
    answers.id_token = False
    code, out = login(person, M365, approve_device_code(idp))
    assert code == 3, out
    assert "carried no ID token, so the sign-in cannot be kept" in one_line(out)
    assert "signed in:" not in out


def test_account_remove_forgets_the_sign_in(person, idp):
    code, said = login(person, M365, approve_device_code(idp))
    assert code == 0, said
    probe = ("import keyring; print(keyring.get_password('primsync', 'oauth:" + M365 + "') "
             "is not None)")  # fmt: skip

    def stored() -> str:
        return subprocess.run([sys.executable, "-c", probe], env=person, capture_output=True,
                              text=True, timeout=60).stdout.strip()  # fmt: skip

    assert stored() == "True"
    keyring_file = Path(person["XDG_DATA_HOME"], "python_keyring", "keyring_pass.cfg")
    escaped = "".join(c if c.isalnum() else f"_{ord(c):02x}" for c in f"oauth:{M365}")
    assert escaped in keyring_file.read_text()
    done = run(person, "account", "remove", M365)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"removed {M365}",
        "the system keyring no longer holds its sign-in",
    ]
    assert stored() == "False"
    assert escaped not in keyring_file.read_text()  # nothing of the account left in the file

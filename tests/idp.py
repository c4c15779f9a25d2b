"""A small OAuth 2 / OpenID identity provider on loopback, over HTTPS with a private CA, for
driving the real msal and google-auth-oauthlib libraries in the tests.

It speaks what those libraries ask of Microsoft's and Google's endpoints: OpenID discovery
(under ``/<tenant>/v2.0/`` as Entra ID serves it, and at the root), device authorization
(RFC 8628), the authorization code grant with PKCE (S256) and a loopback redirect, refresh,
revocation (RFC 7009); and token introspection (RFC 7662) on a second, plain HTTP port for
Dovecot's ``oauth2`` passdb, which checks every access token it is given.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

TENANT = "primsync-test-tenant"
USER = "ana"  # the IMAP login the introspection answers for
M365 = "ana@contoso.example"  # her addresses at the two providers (one mailbox: login ana)
GMAIL = "ana.martin@gmail.com"
MESSAGE = (  # what her mailbox holds
    b"From: Lea Dubois <lea.dubois@mail.example>\r\nTo: ana@contoso.example\r\n"
    b"Subject: Availability\r\nMessage-ID: <signin.1@mail.example>\r\n\r\nHello\r\n"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_ca(folder: Path, *, strict: bool = True) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 and localhost signed by it:
    (ca.pem, server.pem, server.key). ``strict``: with what strict verification (Python
    3.13's default, VERIFY_X509_STRICT) asks — key identifiers, key usage, basic constraints;
    without, the certificates of an old company CA (no Authority/Subject Key Identifier)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "primsync test CA")])
    ca_builder = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    )  # fmt: skip
    if strict:
        ca_builder = ca_builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
    ca = ca_builder.sign(ca_key, hashes.SHA256())
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    )  # fmt: skip
    if strict:
        from cryptography.x509.oid import ExtendedKeyUsageOID

        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_encipherment=False, key_cert_sign=False,
                crl_sign=False, content_commitment=False, data_encipherment=False,
                key_agreement=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
        )  # fmt: skip
    cert = builder.sign(ca_key, hashes.SHA256())
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class State:
    """What the provider has handed out; the tests read and change it."""

    lifetime: int = 3600  # seconds an access token lives
    # answers a person (or a provider) can cause, switched on by the tests
    deny: bool = False  # the person refuses consent: the browser comes back with access_denied
    forged_state: bool = False  # the browser comes back with a state that is not the flow's
    device_message: bool = True  # Microsoft's device-code answer carries a "message"
    id_token: bool = True  # the token answer carries an ID token
    google_secret: str = "test-google-client-secret"
    # app-only (client credentials, RFC 7523 JWT bearer): what the organisation's admin set up
    app_secret: str = "test-app-secret-Zq7"  # the app registration's client secret
    app_certificate: bytes | None = None  # its certificate (PEM), for a client assertion
    app_mailbox_access: bool = True  # Exchange: the app's permission on the mailbox
    service_account_key: bytes | None = None  # Google: the service account's public key (PEM)
    delegated: bool = True  # Google Workspace: domain-wide delegation granted
    device: dict[str, dict] = field(default_factory=dict)  # device_code -> {user_code, ok}
    codes: dict[str, dict] = field(default_factory=dict)  # auth code -> request
    access: dict[str, dict] = field(default_factory=dict)  # token -> {exp, refresh, kind}
    refresh: dict[str, dict] = field(default_factory=dict)  # token -> {revoked}
    requests: list[str] = field(default_factory=list)  # "METHOD /path grant" seen
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, client_id: str, scope: str, refresh: str | None = None) -> dict:
        refresh = refresh or secrets.token_urlsafe(24)
        access = secrets.token_urlsafe(24)
        with self.lock:
            self.refresh.setdefault(refresh, {"revoked": False})
            self.access[access] = {"exp": time.time() + self.lifetime, "refresh": refresh}
        now = int(time.time())
        claims = {
            "iss": f"https://127.0.0.1/{TENANT}/v2.0", "sub": "sub-ana", "aud": client_id,
            "exp": now + 3600, "iat": now, "nbf": now, "oid": "oid-ana", "tid": TENANT,
            "preferred_username": "ana@agency.example", "name": "Ana Martin", "ver": "2.0",
        }  # fmt: skip
        id_token = ".".join(
            [_b64(b'{"alg":"none","typ":"JWT"}'), _b64(json.dumps(claims).encode()), ""]
        )
        answer = {
            "token_type": "Bearer", "access_token": access, "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime, "refresh_token": refresh, "scope": scope,
            "id_token": id_token,
            "client_info": _b64(json.dumps({"uid": "oid-ana", "utid": TENANT}).encode()),
        }  # fmt: skip
        if not self.id_token:
            del answer["id_token"], answer["client_info"]
        return answer

    def issue_app(self, kind: str, scope: str, subject: str | None = None) -> dict:
        """An app's token (no refresh token, no ID token): ``kind`` "app" (Microsoft's client
        credentials) or "delegated" (Google's JWT bearer, for ``subject``)."""
        access = secrets.token_urlsafe(24)
        with self.lock:
            self.access[access] = {"exp": time.time() + self.lifetime, "refresh": None,
                                   "kind": kind, "subject": subject}  # fmt: skip
        return {"token_type": "Bearer", "access_token": access, "expires_in": self.lifetime,
                "scope": scope}  # fmt: skip

    def active(self, token: str) -> bool:
        with self.lock:
            info = self.access.get(token)
            if not info or info["exp"] <= time.time():
                return False
            if info.get("kind") == "app":  # Exchange checks the app's mailbox permission
                return self.app_mailbox_access
            if info.get("kind") == "delegated":
                return self.delegated
            return not self.refresh.get(info["refresh"], {}).get("revoked")

    def revoke_all(self) -> None:
        with self.lock:
            for info in self.refresh.values():
                info["revoked"] = True


class IdentityProvider:
    """``with IdentityProvider(tmp_path) as idp``: HTTPS on ``idp.port``, introspection on
    ``idp.introspection_url``, the private CA at ``idp.ca_file``."""

    def __init__(self, folder: Path, *, strict_ca: bool = True):
        self.folder = folder
        self.state = State()
        self.ca_file, self._cert, self._key = make_ca(folder, strict=strict_ca)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.base}/{TENANT}"

    @property
    def introspection_url(self) -> str:
        return f"http://127.0.0.1:{self.plain_port}/introspect"

    def google_client_secrets(self) -> Path:
        path = self.folder / "google-client-secrets.json"
        path.write_text(json.dumps({"installed": {
            "client_id": "test-google-client.apps.example", "project_id": "primsync-test",
            "auth_uri": f"{self.base}/auth", "token_uri": f"{self.base}/token",
            "client_secret": self.state.google_secret, "redirect_uris": ["http://localhost"],
        }}))  # fmt: skip
        return path

    def __enter__(self) -> IdentityProvider:
        state = self.state
        base = lambda: self.base  # noqa: E731 - the port is known once the server is bound

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _form(self) -> dict[str, str]:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                return {k: v[0] for k, v in parse_qs(raw).items()}

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                state.requests.append(f"GET {url.path}")
                if url.path.endswith("/.well-known/openid-configuration"):
                    root = base() + url.path.removesuffix("/.well-known/openid-configuration")
                    return self._json(200, {
                        "issuer": f"https://127.0.0.1/{TENANT}/v2.0",
                        "authorization_endpoint": f"{base()}/auth",
                        "token_endpoint": f"{base()}/token",
                        "device_authorization_endpoint": f"{base()}/devicecode",
                        "revocation_endpoint": f"{base()}/revoke",
                        "jwks_uri": f"{root}/keys", "response_types_supported": ["code"],
                        "subject_types_supported": ["pairwise"],
                        "id_token_signing_alg_values_supported": ["none"],
                        "scopes_supported": ["openid", "offline_access"],
                    })  # fmt: skip
                if url.path == "/device":  # the user types the code and agrees
                    with state.lock:
                        for entry in state.device.values():
                            if entry["user_code"] == query.get("user_code"):
                                entry["ok"] = True
                                return self._json(200, {"approved": True})
                    return self._json(404, {"error": "unknown code"})
                if url.path == "/auth":  # the browser signs in and is sent back with a code
                    code = secrets.token_urlsafe(16)
                    with state.lock:
                        state.codes[code] = query
                    back = {"code": code, "state": query.get("state", ""), "scope": query["scope"]}
                    if state.deny:
                        back = {"error": "access_denied", "state": query.get("state", "")}
                    if state.forged_state:
                        back["state"] = "forged-" + secrets.token_hex(4)
                    target = query["redirect_uri"] + "?" + urlencode(back)
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._json(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                form = self._form()
                state.requests.append(f"POST {url.path} {form.get('grant_type', '')}".strip())
                if url.path == "/devicecode":
                    device, user = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
                    with state.lock:
                        state.device[device] = {"user_code": user, "ok": False,
                                                "scope": form.get("scope", "")}  # fmt: skip
                    answer = {
                        "device_code": device, "user_code": user,
                        "verification_uri": f"{base()}/device", "expires_in": 300, "interval": 1,
                        "message": f"To sign in, open {base()}/device and enter the code {user}",
                    }  # fmt: skip
                    if not state.device_message:
                        del answer["message"]
                    return self._json(200, answer)
                if url.path == "/revoke":
                    with state.lock:
                        if form.get("token") in state.refresh:
                            state.refresh[form["token"]]["revoked"] = True
                    return self._json(200, {})
                if url.path == "/introspect":
                    active = state.active(form.get("token", ""))
                    return self._json(200, {"active": True, "username": USER} if active
                                      else {"active": False})  # fmt: skip
                if url.path == "/token":
                    return self._token(form)
                return self._json(404, {"error": "not found"})

            def _client_secret(self, form: dict[str, str]) -> str | None:
                """In the form, or in HTTP Basic authentication (RFC 6749 2.3.1)."""
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    pair = base64.b64decode(header[6:]).decode()
                    return pair.partition(":")[2]
                return form.get("client_secret")

            def _token(self, form: dict[str, str]) -> None:
                grant = form.get("grant_type")
                client = form.get("client_id", "")
                if grant == "urn:ietf:params:oauth:grant-type:device_code":
                    entry = state.device.get(form.get("device_code", ""))
                    if entry is None:
                        return self._json(400, {"error": "expired_token"})
                    if not entry["ok"]:
                        return self._json(400, {"error": "authorization_pending",
                                                "error_description": "waiting"})  # fmt: skip
                    del state.device[form["device_code"]]
                    return self._json(200, state.issue(client, entry["scope"]))
                if grant == "authorization_code":
                    request = state.codes.pop(form.get("code", ""), None)
                    verifier = form.get("code_verifier", "")
                    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
                    if (
                        request is None
                        or request.get("redirect_uri") != form.get("redirect_uri")
                        or request.get("code_challenge_method") != "S256"
                        or request.get("code_challenge") != challenge
                        or self._client_secret(form) != state.google_secret
                    ):
                        return self._json(400, {"error": "invalid_grant"})
                    return self._json(200, state.issue(client, request["scope"]))
                if grant == "client_credentials":
                    return self._client_credentials(form)
                if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                    return self._jwt_bearer(form)
                if grant == "refresh_token":
                    token = form.get("refresh_token", "")
                    info = state.refresh.get(token)
                    if info is None or info["revoked"]:
                        return self._json(400, {
                            "error": "invalid_grant",
                            "error_description": "Token has been expired or revoked.",
                        })  # fmt: skip
                    return self._json(200, state.issue(client, form.get("scope", ""), token))
                return self._json(400, {"error": "unsupported_grant_type"})

            def _client_credentials(self, form: dict[str, str]) -> None:
                """Microsoft's app-only grant: the client secret, or a client assertion signed
                with the app's certificate's key (RS256, checked with the certificate)."""
                import jwt
                from cryptography import x509

                scope = form.get("scope", "")
                if not scope.endswith("/.default"):
                    return self._json(400, {"error": "invalid_scope"})
                assertion = form.get("client_assertion")
                if assertion:
                    if state.app_certificate is None:
                        return self._json(401, {"error": "invalid_client"})
                    key = x509.load_pem_x509_certificate(state.app_certificate).public_key()
                    try:
                        jwt.decode(assertion, key, algorithms=["RS256", "PS256"],
                                   audience=f"{base()}/token")  # fmt: skip
                    except jwt.PyJWTError as exc:
                        return self._json(401, {"error": "invalid_client",
                                                "error_description": str(exc)})  # fmt: skip
                elif self._client_secret(form) != state.app_secret:
                    return self._json(401, {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    })  # fmt: skip
                return self._json(200, state.issue_app("app", scope))

            def _jwt_bearer(self, form: dict[str, str]) -> None:
                """Google's service-account grant (RFC 7523): an assertion signed with the
                service account's key, naming the mailbox (``sub``) it acts for."""
                import jwt

                if state.service_account_key is None:
                    return self._json(400, {"error": "invalid_grant"})
                try:
                    claims = jwt.decode(
                        form.get("assertion", ""),
                        state.service_account_key,
                        algorithms=["RS256"],
                        # what google-auth writes, whatever the key file's token_uri: Google's
                        audience="https://oauth2.googleapis.com/token",
                    )
                except jwt.PyJWTError as exc:
                    return self._json(400, {"error": "invalid_grant",
                                            "error_description": str(exc)})  # fmt: skip
                if not state.delegated:
                    return self._json(401, {
                        "error": "unauthorized_client",
                        "error_description": "Client is unauthorized to retrieve access tokens "
                        "using this method, or client not authorized for any of the scopes "
                        "requested.",
                    })  # fmt: skip
                return self._json(200, state.issue_app("delegated", claims.get("scope", ""),
                                                       claims.get("sub")))  # fmt: skip

        self._https = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        self._https.socket = context.wrap_socket(self._https.socket, server_side=True)
        self._plain = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._https.server_address[1]
        self.plain_port = self._plain.server_address[1]
        for server in (self._https, self._plain):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self._https, self._plain):
            server.shutdown()
            server.server_close()

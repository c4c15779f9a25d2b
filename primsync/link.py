"""The life of a connection to an IMAP server, apart from the IMAP commands (``primsync.imap``):
open and log in (TLS, a token asked again once when refused), wait out a busy server ("try
later", too many connections), reconnect after a drop (the folder opened again), switch
compression on, LOGOUT. With ``imap.py`` and ``connection.py``, a user of imapclient.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from primsync import deflate
from primsync.accounts import AUTHS, OAUTH_AUTHS, ConnectionSettings, is_loopback
from primsync.connection import Client, Wire
from primsync.errors import (
    AuthenticationError,
    ConfigurationError,
    MailboxError,
    PrimsyncError,
    UidValidityChanged,
)

logger = logging.getLogger("primsync.imap")

__all__ = [
    "THROTTLE_WAITS",
    "Link",
    "Secret",
    "decode_text",
    "fast_path_available",
    "is_throttled",
    "let_go",
    "open_client",
    "wait_out",
    "waited_note",
]

T = TypeVar("T")
Secret = str | Callable[[bool], str]  # a password or token, or a token source (refresh -> token)


def _server_words(text: str) -> str:
    """What a server said, without the bytes literal imaplib wraps it in.

    >>> _server_words("b'[AUTHENTICATIONFAILED] Authentication failed.'")
    '[AUTHENTICATIONFAILED] Authentication failed.'
    """
    found = re.fullmatch(r"\s*b(['\"])(.*)\1\s*", text, flags=re.S)
    return found.group(2) if found else text


def decode_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# how long to wait, try after try, when a server says it is busy (Gmail's [THROTTLED] and
# [UNAVAILABLE], Microsoft's "Request is throttled", too many connections): 30 s in all
THROTTLE_WAITS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0)
_THROTTLED = re.compile(
    r"\[THROTTLED\]|\[UNAVAILABLE\]|request is throttled|too many (simultaneous )?connections|"
    r"server busy|try again later",
    re.IGNORECASE,
)


def is_throttled(reason: object) -> bool:
    """Whether a server's refusal says "later", not "no"."""
    return bool(_THROTTLED.search(decode_text(str(reason))))


def wait_out(address: str, what: str, reason: object, attempt: int) -> float:
    """Wait before try ``attempt + 2`` after a busy answer; says so in the log. Returns the
    seconds waited."""
    delay = THROTTLE_WAITS[attempt]
    logger.warning(
        "%s: the server is busy (%s): %s; waiting %g s (try %d of %d)",
        address,
        decode_text(str(reason))[:120],
        what,
        delay,
        attempt + 2,
        len(THROTTLE_WAITS) + 1,
    )
    time.sleep(delay)
    return delay


def waited_note(seconds: float) -> str:
    """What a run says of the time it waited for a busy server."""
    return f"waited {seconds:g} s for the server (busy: it asked to try later)"


class Link:
    """One account's connection through its life: the logged-in client (``client``), what the
    server offers, how long it waited for a busy server (``waited``, seconds), how often it
    reconnected. ``folder`` and ``uidvalidity`` are the folder to open again after a drop."""

    def __init__(
        self,
        client: imapclient.IMAPClient,
        settings: ConnectionSettings,
        *,
        reopen: Callable[[], imapclient.IMAPClient] | None = None,
        max_reconnects: int = 3,
        waited: float = 0.0,
    ):
        self.settings = settings
        self.waited = waited
        self.folder: str | None = None
        self.uidvalidity: int | None = None  # the opened folder's, as the caller saw it
        self._reopen = reopen
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        self.use(client)

    def use(self, client: imapclient.IMAPClient) -> None:
        """Take ``client`` (logged in) as this session's connection. CONDSTORE is enabled by
        the first EXAMINE (``examine``) and compression started before the first FETCH, not
        here: a re-sync that finds nothing new spends no round trip on either."""
        self.client = client
        self.client.normalise_times = False
        self.capabilities = {decode_text(c).upper() for c in client.capabilities()}
        self._condstore_asked = False
        self._condstore_param_refused = False
        self._compress_asked = False
        self.compressed = False

    def examine(self, folder: str) -> dict:
        """EXAMINE ``folder`` (read-only), reporting HIGHESTMODSEQ where the server has
        CONDSTORE: the EXAMINE itself enables it (RFC 7162 3.1, ``EXAMINE "folder"
        (CONDSTORE)``), where ENABLE CONDSTORE before it cost a round trip of its own. A
        server that answers the parameter BAD is asked the other way, ENABLE then EXAMINE (and
        only that way for the rest of the connection); a NO is the folder's or the server's
        (busy) refusal, raised as it is."""
        if "CONDSTORE" in self.capabilities and not self._condstore_param_refused:
            try:
                return _examine_with_condstore(self.client, folder)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                if "command error: BAD" not in str(exc):  # imaplib's words for a BAD answer
                    raise  # NO: the folder's or the server's (busy) refusal, as without it
                refused: Exception = exc
            except AttributeError as exc:  # imapclient's insides changed
                refused = exc
            info = self._examine_after_enable(folder)
            self._condstore_param_refused = True  # the parameter, not the folder, was refused
            logger.info("%s: EXAMINE (CONDSTORE) refused (%s): ENABLE CONDSTORE sent instead",
                        self.settings.address, refused)  # fmt: skip
            return info
        return self._examine_after_enable(folder)

    def _examine_after_enable(self, folder: str) -> dict:
        self.enable_condstore()
        return self.client.select_folder(folder, readonly=True)

    def enable_condstore(self) -> None:
        """ENABLE CONDSTORE once a connection, before its first SELECT: only then does SELECT
        report HIGHESTMODSEQ (where the EXAMINE cannot ask for it itself: see ``examine``)."""
        if self._condstore_asked or not {"CONDSTORE", "ENABLE"} <= self.capabilities:
            return
        self._condstore_asked = True
        try:
            self.client.enable("CONDSTORE")
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            # the review works without it; only HIGHESTMODSEQ goes unrecorded
            logger.warning(
                "%s: the server offers CONDSTORE but refused to enable it (%s): "
                "HIGHESTMODSEQ will not be recorded",
                self.settings.address,
                exc,
            )

    def start_compression(self) -> None:
        """COMPRESS=DEFLATE (RFC 4978) once a connection, before its first FETCH, where the
        server offers it and PRIMSYNC_COMPRESS is not 0."""
        if self._compress_asked:
            return
        self._compress_asked = True
        if "COMPRESS=DEFLATE" not in self.capabilities or not deflate.compression_wanted():
            return
        if not fast_path_available(self.client):
            return
        self.compressed = deflate.start(self.client._imap)
        if self.compressed:
            self.client._imap._primsync_reader = None  # read the inflated stream from now on

    def call(self, what: str, command: Callable[[imapclient.IMAPClient], T]) -> T:
        """Run ``command``; when the connection drops, reconnect (a bounded number of times),
        reopen the folder and run it again. Commands sent here are idempotent reads."""
        attempt = 0
        while True:
            try:
                return command(self.client)
            except (IMAPClientAbortError, OSError) as exc:
                self.recover(what, exc)
            except IMAPClientError as exc:
                if is_throttled(exc) and attempt < len(THROTTLE_WAITS):
                    self.waited += wait_out(self.settings.address, what, exc, attempt)
                    attempt += 1
                    continue
                raise self.error(what, exc) from exc

    def recover(self, what: str, exc: BaseException) -> None:
        """After a dropped connection: reconnect, or raise when out of reconnects."""
        if self._reopen is None or self.reconnects >= self.max_reconnects:
            if self.reconnects:
                what = f"{what} (gave up after {self.reconnects} reconnects)"
            raise self.error(what, exc) from exc
        self.reconnects += 1
        self._reconnect(what, exc)

    def _reconnect(self, what: str, cause: BaseException) -> None:
        let_go(self.client)
        assert self._reopen is not None
        try:
            client = self._reopen()
        except PrimsyncError as exc:
            raise MailboxError(
                f"connection lost: {what}; reconnect {self.reconnects} failed: {exc.message}",
                account=self.settings.address,
                folder=self.folder,
            ) from cause
        try:
            self.use(client)
            if self.folder is not None and self.uidvalidity is not None:
                info = self.examine(self.folder)
                if int(info[b"UIDVALIDITY"]) != self.uidvalidity:
                    raise UidValidityChanged(account=self.settings.address, folder=self.folder)
        except (IMAPClientError, OSError) as exc:
            raise self.error(f"{what}; reconnecting failed", exc) from cause

    def close(self) -> None:
        """LOGOUT, then close the connection without waiting for the server's answer (a
        round trip that tells nothing: the session is over either way)."""
        if not fast_path_available(self.client):
            try:
                self.client.logout()
            except (IMAPClientError, OSError) as exc:  # the server or the link is gone
                logger.debug("%s: LOGOUT failed (%s)", self.settings.address, exc)
                let_go(self.client)
            return
        imap = self.client._imap
        try:
            imap.send(imap._new_tag() + b" LOGOUT\r\n")
        except OSError as exc:
            logger.debug("%s: LOGOUT not sent (%s)", self.settings.address, exc)
        let_go(self.client)

    def error(self, what: str, exc: BaseException) -> MailboxError:
        if isinstance(exc, IMAPClientAbortError | OSError):
            what = f"connection lost: {what}"
        return MailboxError(
            f"{what}: {type(exc).__name__}: {decode_text(str(exc))[:200]}",
            account=self.settings.address,
            folder=self.folder,
        )


def _examine_with_condstore(client: imapclient.IMAPClient, folder: str) -> dict:
    """imapclient's ``select_folder(folder, readonly=True)`` with the CONDSTORE parameter
    after the folder's name (imapclient has no way to give SELECT parameters)."""
    name = client._normalise_folder(folder)  # quoted, in modified UTF-7
    name += b" (CONDSTORE)" if isinstance(name, bytes) else " (CONDSTORE)"
    client._command_and_check("select", name, True)
    return client._process_select_response(client._imap.untagged_responses)


def fast_path_available(client: imapclient.IMAPClient) -> bool:
    """Whether the connection is primsync's own (:mod:`primsync.connection`: every byte read
    through one buffer) and imaplib still offers what the fast reader uses besides: ``_new_tag``
    and ``tagged_commands``. These are private to imaplib; an upgrade that changes them turns
    the fast path off (logged once) and the fetch goes through imapclient's own ``fetch()``,
    slower but correct."""
    imap = getattr(client, "_imap", None)
    ok = (
        isinstance(imap, Wire)
        and callable(getattr(imap, "_new_tag", None))
        and isinstance(getattr(imap, "tagged_commands", None), dict)
    )
    global _FAST_PATH_WARNED
    if not ok and not _FAST_PATH_WARNED:
        _FAST_PATH_WARNED = True
        logger.warning(
            "imapclient %s does not offer the internals primsync's fast FETCH reader uses: "
            "fetching through imapclient's fetch() instead (slower)",
            getattr(imapclient, "__version__", "?"),
        )
    return ok


_FAST_PATH_WARNED = False


def let_go(client: imapclient.IMAPClient) -> None:
    """Close a connection that is already broken; nothing more can be said to its server."""
    try:
        client.shutdown()
    except OSError as exc:
        logger.debug("closing a broken connection: %s", exc)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot read the CA file {ca_file!r}: {exc.strerror or exc}"
        ) from exc


class _LoginBusy(AuthenticationError):
    """A login the mail server refused for now ("try again later", too many connections)."""


class _ConnectBusy(MailboxError):
    """A connection the mail server closed at once, saying it is busy."""


def _transport(settings: ConnectionSettings) -> imapclient.IMAPClient:
    where = {"account": settings.address}
    if settings.security not in ("ssl", "starttls", "none"):
        raise ConfigurationError(f"unknown security {settings.security!r}", **where)
    if settings.auth not in AUTHS:
        raise ConfigurationError(f"unknown auth {settings.auth!r}", **where)
    if settings.security == "none" and not is_loopback(settings.host):
        raise ConfigurationError(
            f"refusing an unencrypted connection to {settings.host}: plain IMAP is only allowed "
            "on a loopback address; use ssl or starttls",
            **where,
        )
    target = f"{settings.host}:{settings.port}"
    try:
        if settings.security == "ssl":
            client = Client(
                settings.host,
                port=settings.port,
                ssl=True,
                ssl_context=_tls_context(settings.ca_file),
                timeout=settings.timeout,
            )
        else:
            client = Client(settings.host, port=settings.port, ssl=False, timeout=settings.timeout)
            if settings.security == "starttls":
                client.starttls(_tls_context(settings.ca_file))
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"the certificate of {target} cannot be verified: {exc.verify_message}; give its "
            f"CA file with `primsync account edit {settings.address} --ca-file FILE`",
            **where,
        ) from exc
    except (ssl.SSLError, OSError, IMAPClientError) as exc:
        refused = _ConnectBusy if is_throttled(exc) else MailboxError  # a greeting's BYE
        raise refused(f"cannot connect to {target}: {type(exc).__name__}: {exc}", **where) from exc
    return client


def _login(client: imapclient.IMAPClient, settings: ConnectionSettings, secret: str) -> None:
    where = {"account": settings.address}
    target = f"{settings.host}:{settings.port}"
    try:
        if settings.auth in OAUTH_AUTHS:
            client.oauth2_login(settings.username, secret)
        else:
            client.login(settings.username, secret)
    except LoginError as exc:
        client.shutdown()
        reason = _server_words(str(exc))
        reason = reason.replace(secret, "***") if secret else reason
        refused = _LoginBusy if is_throttled(reason) else AuthenticationError
        raise refused(f"login refused by {target}: {reason[:200]}", **where) from exc
    except (IMAPClientError, OSError) as exc:
        client.shutdown()
        why = (  # the error's own words are not repeated: they could hold what was sent
            f"no answer within {settings.timeout:g} s (timed out)"
            if isinstance(exc, TimeoutError)
            else type(exc).__name__
        )
        raise MailboxError(f"login to {target} failed: {why}", **where) from exc


def open_client(
    settings: ConnectionSettings, secret: Secret, waits: list[float] | None = None
) -> imapclient.IMAPClient:
    """Connect and log in; a busy server ("try later", too many connections) is waited out
    (the seconds go into ``waits``)."""
    attempt = 0
    while True:
        try:
            return _open_client_once(settings, secret)
        except (_LoginBusy, _ConnectBusy) as exc:  # the server's words, never a sign-in
            if attempt == len(THROTTLE_WAITS):  # service's ("cannot be reached; try again
                raise  # later" is not waited out: it would only wait 30 s to fail)
            waited = wait_out(settings.address, "login", exc.message, attempt)
            if waits is not None:
                waits.append(waited)
            attempt += 1


def _open_client_once(settings: ConnectionSettings, secret: Secret) -> imapclient.IMAPClient:
    """Connect and log in. A token source is asked again, with refresh=True, once the server
    has refused its first token; a second refusal is final."""
    if not callable(secret):
        client = _transport(settings)
        _login(client, settings, secret)
        return client
    # the token is fetched before, and outside, the login: a sign-in service that refuses to
    # refresh (a revoked consent, a dead refresh token) says so itself, once, and the mail
    # server, which never saw a token, is not blamed
    token = secret(False)
    client = _transport(settings)
    try:
        _login(client, settings, token)
    except _LoginBusy:
        raise  # busy, not a refused token: waited out by the caller
    except AuthenticationError:
        token = secret(True)
        client = _transport(settings)
        try:
            _login(client, settings, token)
        except _LoginBusy:
            raise  # busy now: waited out by the caller, and the fresh token tried again
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"the server refused the access token, also after one refresh: {exc.message}",
                account=settings.address,
            ) from exc
    return client

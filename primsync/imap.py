"""The IMAP side: connect, list folders, search, fetch in batches. The only user of imapclient.

>>> with connect(settings, secret) as box:            # doctest: +SKIP
...     folders = box.list_folders()
...     box.select("INBOX")
...     uids = box.search(["UNSEEN"])
...     rows = list(box.fetch_headers(uids))
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from primsync import deflate
from primsync.accounts import AUTHS, OAUTH_AUTHS, ConnectionSettings, is_loopback
from primsync.connection import Client, Wire
from primsync.errors import (
    AuthenticationError,
    ConfigurationError,
    FolderError,
    MailboxError,
    PrimsyncError,
    UidValidityChanged,
)
from primsync.parse import REVIEW_HEADERS
from primsync.progress import ProgressCallback
from primsync.wire import FetchFailed, RawMessage, Reader, UnreadableFetch

logger = logging.getLogger("primsync.imap")

__all__ = [
    "ConnectionSettings",
    "Folder",
    "FolderStatus",
    "Mailbox",
    "RawMessage",
    "connect",
    "default_folders",
    "waited_note",
    "fast_path_available",
    "is_loopback",
    "is_sent_folder",
]

MAX_UID_SET = 8000  # characters of a FETCH's UID set (RFC 7162 asks servers for 8,192 a line)
BODY_BATCH = 1000
BODY_BATCH_BYTES = 32 * 1024 * 1024  # memory held by one full-fetch batch
READ_CHUNK = 1 << 20  # bytes asked of the socket at a time during a FETCH
PROGRESS_EVERY = 1000  # messages between two progress reports
_HEADER_ITEM = ("BODY.PEEK[HEADER.FIELDS (" + " ".join(REVIEW_HEADERS).upper() + ")]").encode()
_SENT_NAMES = {
    "sent",
    "sent items",
    "sent messages",
    "sent mail",
    "envoyés",
    "éléments envoyés",
    "messages envoyés",
    "gesendet",
    "gesendete elemente",
    "gesendete objekte",
    "enviados",
    "elementos enviados",
    "posta inviata",
    "inviati",
    "verzonden items",
}

# a password or access token, or a token source called with refresh=True after a refusal
Secret = str | Callable[[bool], str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Folder:
    """One folder of the tree, its name decoded from modified UTF-7."""

    name: str
    delimiter: str
    flags: tuple[str, ...]

    @property
    def selectable(self) -> bool:
        return not any(f.lower() in ("\\noselect", "\\nonexistent") for f in self.flags)

    @property
    def special_use(self) -> str | None:
        for flag in self.flags:
            if flag.lower() in _SPECIAL_USE:
                return flag
        return None

    @property
    def noisy(self) -> bool:
        """A folder that holds copies of other folders' mail, or mail nobody wants filed
        (Gmail's All Mail, Important, Starred; trash; spam): never ticked by default."""
        use = (self.special_use or "").lower()
        return use in ("\\all", "\\important", "\\flagged", "\\trash", "\\junk")

    @property
    def label(self) -> str:
        """Its last name part, with what its special use means in words."""
        name = self.parts[-1]
        meaning = _SPECIAL_USE.get((self.special_use or "").lower())
        if meaning is None and self.is_sent:
            meaning = "sent"
        if not meaning or meaning.split(",")[0].split()[0] in name.casefold():
            return name  # "Sent", "Sent Mail", "Trash", "Starred" say it themselves
        return f"{name} ({meaning})"

    @property
    def parts(self) -> list[str]:
        return self.name.split(self.delimiter) if self.delimiter else [self.name]

    @property
    def depth(self) -> int:
        return len(self.parts) - 1

    @property
    def is_sent(self) -> bool:
        return is_sent_folder(self)


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """What SELECT says of a folder."""

    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int
    highestmodseq: int | None


_SPECIAL_USE = {  # RFC 6154 and RFC 8457 special uses, in the words the picker shows
    "\\sent": "sent",
    "\\drafts": "drafts",
    "\\trash": "trash",
    "\\junk": "spam",
    "\\archive": "archive",
    "\\all": "every message, copies of the other folders",
    "\\flagged": "starred, copies",
    "\\important": "important, copies",
}


def default_folders(folders: Sequence[Folder]) -> list[str]:
    """The folders ticked when the picker opens: the inbox and the sent folder, never a
    folder of copies (All Mail, Important, Starred) nor trash or spam."""
    chosen = [f.name for f in folders if f.name.upper() == "INBOX" and f.selectable]
    sent = [f for f in folders if f.is_sent and f.selectable and not f.noisy]
    sent.sort(key=lambda f: f.special_use is None)  # the \Sent folder before a "Sent" name
    return chosen + [sent[0].name] if sent else chosen


def is_sent_folder(folder: Folder) -> bool:
    """The special-use ``\\Sent`` flag, else a well-known sent-folder name."""
    if folder.special_use and folder.special_use.lower() == "\\sent":
        return True
    return folder.parts[-1].strip().casefold() in _SENT_NAMES


def _server_words(text: str) -> str:
    """What a server said, without the bytes literal imaplib wraps it in.

    >>> _server_words("b'[AUTHENTICATIONFAILED] Authentication failed.'")
    '[AUTHENTICATIONFAILED] Authentication failed.'
    """
    found = re.fullmatch(r"\s*b(['\"])(.*)\1\s*", text, flags=re.S)
    return found.group(2) if found else text


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _batches(
    uids: Sequence[int], size: int, sizes: dict[int, int] | None = None
) -> Iterator[list[int]]:
    """Runs of at most ``size`` UIDs and, with ``sizes``, about BODY_BATCH_BYTES bytes."""
    chunk: list[int] = []
    total = 0
    for uid in uids:
        weight = sizes.get(uid, 0) if sizes else 0
        if chunk and (len(chunk) >= size or total + weight > BODY_BATCH_BYTES):
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += weight
    if chunk:
        yield chunk


def _esearch(client: imapclient.IMAPClient, criteria: list[object]) -> list[int]:
    """``UID SEARCH RETURN (ALL)``: the UIDs found, from the ESEARCH answer's sequence set."""
    from imapclient.imapclient import _normalise_search_criteria

    args = [b"RETURN", b"(ALL)", b"CHARSET", b"UTF-8"]
    args += _normalise_search_criteria(criteria, "UTF-8")
    data = client._raw_command_untagged(b"SEARCH", args, response_name="ESEARCH")
    return esearch_uids(data)


def esearch_uids(data: Sequence[bytes | tuple]) -> list[int]:
    """The UIDs of ESEARCH answers (``(TAG "A5") UID ALL 2,10:12``; no ``ALL`` when none),
    sorted ascending.

    >>> esearch_uids([b'(TAG "A5") UID ALL 2,10:12,7'])
    [2, 7, 10, 11, 12]
    >>> esearch_uids([b'(TAG "A6") UID'])
    []
    """
    uids: set[int] = set()
    for line in data:
        words = (line if isinstance(line, bytes) else b"".join(line)).split()
        for i, word in enumerate(words[:-1]):
            if word.upper() != b"ALL":
                continue
            for part in words[i + 1].split(b","):
                first, _, last = part.partition(b":")
                low, high = sorted((int(first), int(last or first)))
                uids.update(range(low, high + 1))
    return sorted(uids)


def _uid_sets(uids: Sequence[int], limit: int = MAX_UID_SET) -> Iterator[list[int]]:
    """Runs of UIDs whose UID set (``1:5,7``) fits in ``limit`` characters: a folder's
    headers come in one streaming FETCH, or as few as the command line allows. (Measured on
    a 20 ms link, 20,000 messages: one FETCH 0.88 s, batches of 5,000 1.10 s, each batch an
    idle round trip.)

    >>> [len(run) for run in _uid_sets(list(range(1, 50001)))]
    [50000]
    >>> [uid_ranges(run) for run in _uid_sets(list(range(1, 20, 2)), limit=20)]
    ['1,3,5,7', '9,11,13', '15,17,19']
    """
    chunk: list[int] = []
    length = 0  # of the chunk's UID set, exactly
    start = prev = -1
    for uid in uids:
        if chunk and uid == prev + 1:  # the run goes on: its end grows
            length += len(str(uid)) - (len(str(prev)) if prev != start else -1)
            prev = uid
            chunk.append(uid)
            continue
        cost = len(str(uid)) + (1 if chunk else 0)
        if chunk and length + cost > limit - 12:  # room for the run's end (":4294967295")
            yield chunk
            chunk, length, cost = [], 0, len(str(uid))
        chunk.append(uid)
        length += cost
        start = prev = uid
    if chunk:
        yield chunk


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
    return bool(_THROTTLED.search(_decode(str(reason))))


def wait_out(address: str, what: str, reason: object, attempt: int) -> float:
    """Wait before try ``attempt + 2`` after a busy answer; says so in the log. Returns the
    seconds waited."""
    delay = THROTTLE_WAITS[attempt]
    logger.warning(
        "%s: the server is busy (%s): %s; waiting %g s (try %d of %d)",
        address,
        _decode(str(reason))[:120],
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


class Mailbox:
    """An open IMAP session on one account; use :func:`connect` to get one. ``waited`` says
    how long it waited for a busy server, in seconds."""

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
        self.status: FolderStatus | None = None
        self._reopen = reopen
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        self._use(client)

    def _use(self, client: imapclient.IMAPClient) -> None:
        """Take ``client`` (logged in) as this session's connection. CONDSTORE is enabled
        before the first SELECT and compression started before the first FETCH, not here: a
        re-sync that finds nothing new spends no round trip on either."""
        self._client = client
        self._client.normalise_times = False
        self.capabilities = {_decode(c).upper() for c in client.capabilities()}
        self._condstore_asked = False
        self._compress_asked = False
        self.compressed = False

    def _enable_condstore(self) -> None:
        """ENABLE CONDSTORE once a connection, before its first SELECT: only then does SELECT
        report HIGHESTMODSEQ."""
        if self._condstore_asked or not {"CONDSTORE", "ENABLE"} <= self.capabilities:
            return
        self._condstore_asked = True
        try:
            self._client.enable("CONDSTORE")
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

    def _start_compression(self) -> None:
        """COMPRESS=DEFLATE (RFC 4978) once a connection, before its first FETCH, where the
        server offers it and PRIMSYNC_COMPRESS is not 0."""
        if self._compress_asked:
            return
        self._compress_asked = True
        if "COMPRESS=DEFLATE" not in self.capabilities or not deflate.compression_wanted():
            return
        if not fast_path_available(self._client):
            return
        self.compressed = deflate.start(self._client._imap)
        if self.compressed:
            self._client._imap._primsync_reader = None  # read the inflated stream from now on

    def _call(self, what: str, command: Callable[[imapclient.IMAPClient], T]) -> T:
        """Run ``command``; when the connection drops, reconnect (a bounded number of times),
        reopen the folder and run it again. Commands sent here are idempotent reads."""
        attempt = 0
        while True:
            try:
                return command(self._client)
            except (IMAPClientAbortError, OSError) as exc:
                self._recover(what, exc)
            except IMAPClientError as exc:
                if is_throttled(exc) and attempt < len(THROTTLE_WAITS):
                    self.waited += wait_out(self.settings.address, what, exc, attempt)
                    attempt += 1
                    continue
                raise self._error(what, exc) from exc

    def _recover(self, what: str, exc: BaseException) -> None:
        """After a dropped connection: reconnect, or raise when out of reconnects."""
        if self._reopen is None or self.reconnects >= self.max_reconnects:
            if self.reconnects:
                what = f"{what} (gave up after {self.reconnects} reconnects)"
            raise self._error(what, exc) from exc
        self.reconnects += 1
        self._reconnect(what, exc)

    def _reconnect(self, what: str, cause: BaseException) -> None:
        _let_go(self._client)
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
            self._use(client)
            if self.folder is not None and self.status is not None:
                self._enable_condstore()
                info = self._client.select_folder(self.folder, readonly=True)
                self.expect_uidvalidity(int(info[b"UIDVALIDITY"]), self.status.uidvalidity)
        except (IMAPClientError, OSError) as exc:
            raise self._error(f"{what}; reconnecting failed", exc) from cause

    def expect_uidvalidity(self, actual: int, expected: int | Iterable[int]) -> None:
        """Raise :class:`UidValidityChanged` unless the selected folder's UIDVALIDITY is the
        one the review saw (its UIDs would name other messages)."""
        if {actual} != ({expected} if isinstance(expected, int) else set(expected)):
            raise UidValidityChanged(account=self.settings.address, folder=self.folder)

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """LOGOUT, then close the connection without waiting for the server's answer (a
        round trip that tells nothing: the session is over either way)."""
        if not fast_path_available(self._client):
            try:
                self._client.logout()
            except (IMAPClientError, OSError) as exc:  # the server or the link is gone
                logger.debug("%s: LOGOUT failed (%s)", self.settings.address, exc)
                _let_go(self._client)
            return
        imap = self._client._imap
        try:
            imap.send(imap._new_tag() + b" LOGOUT\r\n")
        except OSError as exc:
            logger.debug("%s: LOGOUT not sent (%s)", self.settings.address, exc)
        _let_go(self._client)

    def _error(self, what: str, exc: BaseException) -> MailboxError:
        if isinstance(exc, IMAPClientAbortError | OSError):
            what = f"connection lost: {what}"
        return MailboxError(
            f"{what}: {type(exc).__name__}: {_decode(str(exc))[:200]}",
            account=self.settings.address,
            folder=self.folder,
        )

    def list_folders(self) -> list[Folder]:
        """The whole folder tree, sorted by name."""
        listed = self._call("LIST failed", lambda c: c.list_folders())
        folders = [
            Folder(
                name=_decode(name),
                delimiter=_decode(delim or b""),
                flags=tuple(map(_decode, flags)),
            )
            for flags, delim, name in listed
        ]
        return sorted(folders, key=lambda f: f.parts)

    def select(self, folder: str) -> FolderStatus:
        """Open ``folder`` read-only (nothing is ever flagged by primsync)."""
        self.folder, self.status = folder, None
        try:
            info = self._call("EXAMINE failed", self._examine)
        except MailboxError as exc:
            self._raise_folder_error(exc, "cannot open the folder", folder)
            raise
        modseq = info.get(b"HIGHESTMODSEQ")
        self.status = FolderStatus(
            name=folder,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            exists=int(info.get(b"EXISTS", 0)),
            highestmodseq=int(modseq) if modseq is not None else None,
        )
        return self.status

    def _raise_folder_error(self, exc: MailboxError, what: str, folder: str) -> None:
        """Raise a refusal about one folder as a :class:`FolderError`; return (for the caller
        to re-raise ``exc``) when the connection was lost."""
        if isinstance(exc.__cause__, IMAPClientAbortError | OSError):
            return
        raise FolderError(
            f"{what}: {exc.message}", account=self.settings.address, folder=folder
        ) from exc

    def _examine(self, client: imapclient.IMAPClient) -> dict:
        self._enable_condstore()
        assert self.folder is not None
        return client.select_folder(self.folder, readonly=True)

    def folder_status(self, folder: str) -> FolderStatus:
        """STATUS of a folder, without opening it (HIGHESTMODSEQ where CONDSTORE is there)."""
        what = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"]
        if "CONDSTORE" in self.capabilities:
            what.append("HIGHESTMODSEQ")
        try:
            info = self._call("STATUS failed", lambda c: c.folder_status(folder, what))
        except MailboxError as exc:
            self._raise_folder_error(exc, "cannot read the folder's status", folder)
            raise
        modseq = info.get(b"HIGHESTMODSEQ")
        return FolderStatus(
            name=folder,
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
            exists=int(info.get(b"MESSAGES", 0)),
            highestmodseq=int(modseq) if modseq is not None else None,
        )

    def search(self, criteria: list[object]) -> list[int]:
        """UID SEARCH in the selected folder, sorted ascending. Where the server offers
        ESEARCH (RFC 4731) the answer comes as ranges (``ALL 1:500000``): a few bytes where the
        plain answer names every UID on one line (3.4 MB for 500,000 messages)."""
        if "ESEARCH" in self.capabilities:
            return self._call("SEARCH failed", lambda c: _esearch(c, criteria))
        found = self._call("SEARCH failed", lambda c: c.search(criteria, charset="UTF-8"))
        return sorted(int(u) for u in found)

    def fetch_headers(
        self, uids: Sequence[int], *, progress: ProgressCallback | None = None
    ) -> Iterator[RawMessage]:
        """The review headers with FLAGS, INTERNALDATE and RFC822.SIZE, in batches."""
        items = f"(FLAGS INTERNALDATE RFC822.SIZE {_HEADER_ITEM.decode()})"
        yield from self._fetch(uids, items, _uid_sets(sorted(set(uids))), progress, updates=True)

    def fetch_full(
        self,
        uids: Sequence[int],
        *,
        sizes: dict[int, int] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[RawMessage]:
        """Whole messages (``BODY.PEEK[]``), in batches of at most ``BODY_BATCH`` messages and,
        when ``sizes`` (RFC822.SIZE by UID) are known, about ``BODY_BATCH_BYTES`` bytes."""
        items = "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"
        chunks = _batches(sorted(set(uids)), BODY_BATCH, sizes)
        yield from self._fetch(uids, items, chunks, progress)

    def _fetch(
        self,
        uids: Sequence[int],
        items: str,
        chunks: Iterator[list[int]],
        progress: ProgressCallback | None,
        *,
        updates: bool = False,
    ) -> Iterator[RawMessage]:
        """UID FETCH chunk by chunk, each answer streamed: a message is handed on as soon as it
        is read, while the server goes on sending. A dropped connection is reopened (a bounded
        number of times) and only the UIDs not yet received are asked again. With ``updates``,
        later FLAGS of a message already handed on follow it (``RawMessage.update``)."""
        wanted = set(uids)
        total = len(wanted)
        received: set[int] = set()
        queue = list(chunks)
        busy = 0  # busy answers in a row
        while queue:
            chunk = queue[0]
            what = f"FETCH of UIDs {chunk[0]}..{chunk[-1]} failed"
            try:
                self._start_compression()
                with closing(_stream(self._client, chunk, items)) as stream:
                    for message in stream:
                        if message.update:
                            if updates and message.uid in received:
                                yield message
                            continue
                        if message.uid not in wanted or message.uid in received:
                            continue
                        received.add(message.uid)
                        yield message
                        if progress is not None and len(received) % PROGRESS_EVERY == 0:
                            progress(len(received), total)
                queue.pop(0)
            except (IMAPClientAbortError, OSError) as exc:
                self._recover(what, exc)
                queue[0] = [uid for uid in chunk if uid not in received]
                if not queue[0]:
                    queue.pop(0)
            except UnreadableFetch as exc:
                # the answer was read to its end: ask imapclient for what is missing
                queue.pop(0)
                missing = [uid for uid in chunk if uid not in received]
                logger.warning(
                    "%s, %s: %s; reading UIDs %s..%s with imapclient's parser",
                    self.settings.address,
                    self.folder,
                    exc,
                    missing[0],
                    missing[-1],
                )
                for message in self._read_with_imapclient(what, missing, items):
                    if message.uid in wanted and message.uid not in received:
                        received.add(message.uid)
                        yield message
            except (FetchFailed, IMAPClientError) as exc:
                if not is_throttled(exc) or busy >= len(THROTTLE_WAITS):
                    raise self._error(what, exc) from exc
                self.waited += wait_out(self.settings.address, what, exc, busy)
                busy += 1
                queue[0] = [uid for uid in chunk if uid not in received]
                if not queue[0]:
                    queue.pop(0)
                continue
            busy = 0
            if progress is not None:
                progress(len(received), total)

    def _read_with_imapclient(self, what: str, uids: list[int], items: str) -> list[RawMessage]:
        """``uids`` through imapclient's own parser; what it cannot read either is left out
        (the caller's reconciliation names those UIDs as not read)."""
        try:
            return list(_fetch_with_imapclient(self._client, uids, items))
        except IMAPClientAbortError as exc:
            raise self._error(what, exc) from exc
        except IMAPClientError as exc:
            logger.warning(
                "%s, %s: imapclient could not read them either: %s",
                self.settings.address,
                self.folder,
                exc,
            )
            return []

    def append(
        self,
        folder: str,
        message: bytes,
        *,
        flags: Iterable[str] = (),
        when: datetime | None = None,
    ) -> None:
        """Store a message in ``folder`` (used by the demo and the tests' mailboxes)."""
        try:
            self._client.append(folder, message, flags=tuple(flags), msg_time=when)
        except (IMAPClientError, OSError) as exc:
            raise self._error("APPEND failed", exc) from exc

    def create_folder(self, folder: str) -> None:
        try:
            self._client.create_folder(folder)
        except (IMAPClientError, OSError) as exc:
            raise self._error("CREATE failed", exc) from exc


def uid_ranges(uids: Sequence[int]) -> str:
    """A compact sequence set of sorted UIDs: ``1:5,7,9:12``."""
    parts: list[str] = []
    start = prev = None
    for uid in uids:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            parts.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    if start is not None:
        parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts)


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


def _stream(
    client: imapclient.IMAPClient, uids: Sequence[int], items: str
) -> Generator[RawMessage, None, None]:
    """UID FETCH sent on imapclient's connection, its answer read by :mod:`primsync.wire`.
    Closed early, it reads the rest of the answer so that the connection stays in step."""
    if not fast_path_available(client):
        yield from _fetch_with_imapclient(client, uids, items)
        return
    imap = client._imap
    reader = getattr(imap, "_primsync_reader", None)  # reset when compression starts
    if reader is None:
        reader = Reader(partial(imap.read1, READ_CHUNK))
        imap._primsync_reader = reader
    tag = imap._new_tag()
    imap.tagged_commands.pop(tag, None)  # answered here, not by imaplib
    imap.send(b"%s UID FETCH %s %s\r\n" % (tag, uid_ranges(uids).encode(), items.encode()))
    answer = reader.answer(tag)
    try:
        for message in answer:  # noqa: UP028 (``yield from`` would close ``answer`` on exit)
            yield message
    except GeneratorExit:
        try:
            for _ in answer:
                pass
        except (IMAPClientError, FetchFailed, OSError) as exc:
            # the connection is gone: the next command reconnects
            logger.debug("the rest of an abandoned FETCH answer was lost: %s", exc)
        raise


def _fetch_with_imapclient(
    client: imapclient.IMAPClient, uids: Sequence[int], items: str
) -> Iterator[RawMessage]:
    """The same messages through imapclient's public ``fetch()`` (the fallback)."""
    wanted = items.strip("()")
    before = client.normalise_times
    client.normalise_times = False  # aware INTERNALDATEs, as the wire reader gives
    try:
        answer = client.fetch(sorted(set(uids)), wanted)
    finally:
        client.normalise_times = before
    for uid in sorted(answer):
        fields = answer[uid]
        data = next((v for k, v in fields.items() if k.startswith(b"BODY[")), b"") or b""
        when = fields.get(b"INTERNALDATE")
        yield RawMessage(
            int(uid),
            bytes(data),
            tuple(_decode(f) for f in fields.get(b"FLAGS", ())),
            int(when.timestamp()) if when is not None else None,
            int(fields.get(b"RFC822.SIZE", len(data))),
        )


def _let_go(client: imapclient.IMAPClient) -> None:
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


def connect(settings: ConnectionSettings, secret: Secret, *, max_reconnects: int = 3) -> Mailbox:
    """Open and authenticate a session. Errors name the account, never the secret.

    The session reconnects by itself (up to ``max_reconnects`` times) when the connection drops
    in the middle of a read.
    """
    waits: list[float] = []
    client = _open_client(settings, secret, waits)
    return Mailbox(
        client,
        settings,
        reopen=lambda: _open_client(settings, secret, waits),
        max_reconnects=max_reconnects,
        waited=sum(waits),
    )


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
        raise MailboxError(
            f"cannot connect to {target}: {type(exc).__name__}: {exc}", **where
        ) from exc
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
        raise AuthenticationError(f"login refused by {target}: {reason[:200]}", **where) from exc
    except (IMAPClientError, OSError) as exc:
        client.shutdown()
        raise MailboxError(f"login to {target} failed: {type(exc).__name__}", **where) from exc


def _open_client(
    settings: ConnectionSettings, secret: Secret, waits: list[float] | None = None
) -> imapclient.IMAPClient:
    """Connect and log in; a busy server ("try later", too many connections) is waited out
    (the seconds go into ``waits``)."""
    attempt = 0
    while True:
        try:
            return _open_client_once(settings, secret)
        except (AuthenticationError, MailboxError) as exc:
            if not is_throttled(exc.message) or attempt == len(THROTTLE_WAITS):
                raise
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
    except AuthenticationError as first:
        if is_throttled(first.message):
            raise  # busy, not a refused token: waited out by the caller
        token = secret(True)
        client = _transport(settings)
        try:
            _login(client, settings, token)
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"the server refused the access token, also after one refresh: {exc.message}",
                account=settings.address,
            ) from exc
    return client

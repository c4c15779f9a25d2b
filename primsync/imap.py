"""The IMAP side: connect, list folders, search, fetch in batches. The only user of imapclient.

>>> with connect(settings, secret) as box:            # doctest: +SKIP
...     folders = box.list_folders()
...     box.select("INBOX")
...     uids = box.search(["UNSEEN"])
...     rows = list(box.fetch_headers(uids))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from primsync import link
from primsync.accounts import ConnectionSettings, is_loopback
from primsync.errors import (
    FolderError,
    MailboxError,
    UidValidityChanged,
)
from primsync.link import (
    Link,
    Secret,
    decode_text,
    fast_path_available,
    is_throttled,
    open_client,
    wait_out,
    waited_note,
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
    if uids and uids[-1] - uids[0] == len(uids) - 1:
        yield list(uids)  # sorted and unique, so one run (``1:50000``): no walk through it
        return
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


class Mailbox:
    """An open IMAP session on one account; use :func:`connect` to get one. Its connection's
    life (reconnects, waits for a busy server, compression) is its :class:`~primsync.link.Link`;
    ``waited`` says how long it waited for a busy server, in seconds."""

    def __init__(self, link: Link):
        self.link = link
        self.status: FolderStatus | None = None

    # what the session's connection says of itself
    @property
    def settings(self) -> ConnectionSettings:
        return self.link.settings

    @property
    def capabilities(self) -> set[str]:
        return self.link.capabilities

    @property
    def compressed(self) -> bool:
        return self.link.compressed

    @property
    def reconnects(self) -> int:
        return self.link.reconnects

    @property
    def folder(self) -> str | None:
        """The folder opened last (opened again after a reconnect)."""
        return self.link.folder

    @property
    def waited(self) -> float:
        return self.link.waited

    @property
    def _client(self) -> imapclient.IMAPClient:
        return self.link.client

    def _call(self, what: str, command: Callable[[imapclient.IMAPClient], T]) -> T:
        return self.link.call(what, command)

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
        """LOGOUT; the connection closed."""
        self.link.close()

    def list_folders(self) -> list[Folder]:
        """The whole folder tree, sorted by name."""
        listed = self._call("LIST failed", lambda c: c.list_folders())
        folders = [
            Folder(
                name=decode_text(name),
                delimiter=decode_text(delim or b""),
                flags=tuple(map(decode_text, flags)),
            )
            for flags, delim, name in listed
        ]
        return sorted(folders, key=lambda f: f.parts)

    def select(self, folder: str) -> FolderStatus:
        """Open ``folder`` read-only (nothing is ever flagged by primsync)."""
        self.link.folder, self.link.uidvalidity, self.status = folder, None, None
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
        self.link.uidvalidity = self.status.uidvalidity
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
        assert self.folder is not None and client is self.link.client
        return self.link.examine(self.folder)

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
                self.link.start_compression()
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
                self.link.recover(what, exc)
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
                if not is_throttled(exc) or busy >= len(link.THROTTLE_WAITS):
                    raise self.link.error(what, exc) from exc
                self.link.waited += wait_out(self.settings.address, what, exc, busy)
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
            raise self.link.error(what, exc) from exc
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
            raise self.link.error("APPEND failed", exc) from exc

    def create_folder(self, folder: str) -> None:
        try:
            self._client.create_folder(folder)
        except (IMAPClientError, OSError) as exc:
            raise self.link.error("CREATE failed", exc) from exc


def uid_ranges(uids: Sequence[int]) -> str:
    """A compact sequence set of sorted, unique UIDs: ``1:5,7,9:12``."""
    if len(uids) > 1 and uids[-1] - uids[0] == len(uids) - 1:  # one run, unique
        return f"{uids[0]}:{uids[-1]}"
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
            tuple(decode_text(f) for f in fields.get(b"FLAGS", ())),
            int(when.timestamp()) if when is not None else None,
            int(fields.get(b"RFC822.SIZE", len(data))),
        )


def connect(settings: ConnectionSettings, secret: Secret, *, max_reconnects: int = 3) -> Mailbox:
    """Open and authenticate a session. Errors name the account, never the secret.

    The session reconnects by itself (up to ``max_reconnects`` times) when the connection drops
    in the middle of a read.
    """
    waits: list[float] = []
    client = open_client(settings, secret, waits)
    return Mailbox(
        Link(
            client,
            settings,
            reopen=lambda: open_client(settings, secret, waits),
            max_reconnects=max_reconnects,
            waited=sum(waits),
        )
    )

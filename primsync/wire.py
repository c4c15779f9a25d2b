"""UID FETCH answers read straight off the connection.

imaplib reads an answer line by line and runs a regex or two on each line; imapclient then
parses every token into Python objects. For a 50,000-message header fetch those two layers cost
two to six times what the server needs to send the bytes. Here the answer is read in large
chunks and cut into messages with ``bytes.find`` and four small regexes; nothing else is parsed.
The session, SEARCH, LIST, SELECT and small commands stay on imapclient (see ``imap.py``).

>>> lines = [b"* 1 FETCH (UID 7 FLAGS (\\\\Seen) INTERNALDATE \\" 1-Feb-2026 10:00:00 +0100\\" ",
...          b"RFC822.SIZE 12 BODY[] {5}\\r\\nHello)\\r\\n", b"A1 OK done\\r\\n"]
>>> [(m.uid, m.data, m.flags, m.size) for m in read_fetch(iter(lines).__next__, b"A1")]
[(7, b'Hello', ('\\\\Seen',), 12)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from primsync.errors import FetchFailed
from primsync.parse import MONTH_NUMBERS

__all__ = [
    "FetchFailed",
    "RawMessage",
    "Reader",
    "internaldate",
    "internaldate_seconds",
    "read_fetch",
]

_LARGE = 4 << 20  # a literal beyond this is gathered in pieces
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_BODY_BEFORE = re.compile(rb"BODY\[[^\]]*\](?:<\d+>)?\s*$")
_BODY_INLINE = re.compile(rb'BODY\[[^\]]*\](?:<\d+>)? (NIL|"((?:[^"\\]|\\.)*)")')
_USUAL = (
    rb'\* \d+ FETCH \(UID (\d+) FLAGS \(([^)\r\n]*)\) INTERNALDATE "([^"\r\n]*)" '
    rb"RFC822\.SIZE (\d+) BODY\[[^\]\r\n]*\] \{(\d+)\}"
)
_COMMON = re.compile(_USUAL + rb"$")  # on a line
_COMMON_AT = re.compile(_USUAL + rb"\r\n")  # in the buffer
_UID = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One FETCH answer: the header block (or the whole message) and its attributes."""

    uid: int
    data: bytes
    flags: tuple[str, ...]
    received: int | None  # INTERNALDATE, in seconds since the epoch
    size: int

    @property
    def internaldate(self) -> datetime | None:
        return _utc(self.received)


class Reader:
    """Lines and literals from a ``read1``-style callable (a socket file's ``read1``). Keep
    one per connection: it may hold bytes of the next answer."""

    def __init__(self, read1: Callable[[], bytes]):
        self._read1 = read1
        self._buf = bytearray()
        self._pos = 0

    def _more(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        chunk = self._read1()
        if not chunk:
            raise ConnectionError("the server closed the connection during a FETCH")
        self._buf += chunk

    def line(self) -> bytes:
        """The next line, without its CRLF."""
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                out = bytes(self._buf[self._pos : end])
                self._pos = end + 2
                return out
            self._more()

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes (a literal)."""
        while len(self._buf) - self._pos < n:
            if n - (len(self._buf) - self._pos) >= _LARGE:
                # a large literal: gather the rest in a list rather than regrowing one buffer
                return self._take_large(n)
            self._more()
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        return out

    def _take_large(self, n: int) -> bytes:
        parts = [bytes(self._buf[self._pos :])]
        have = len(parts[0])
        self._buf.clear()
        self._pos = 0
        while have < n:
            chunk = self._read1()
            if not chunk:
                raise ConnectionError("the server closed the connection during a FETCH")
            parts.append(chunk)
            have += len(chunk)
        whole = b"".join(parts)
        self._buf += whole[n:]
        return whole[:n]

    def answer(self, tag: bytes) -> Iterator[RawMessage]:
        """The messages of one UID FETCH answer, up to the line tagged ``tag``.

        Untagged answers other than FETCH, and FETCH answers without a UID or a body item
        (unsolicited flag changes), are skipped. Raises :class:`FetchFailed` on NO/BAD and
        ``ConnectionError`` when the connection ends first.
        """
        done = tag + b" "
        while True:
            common = _COMMON_AT.match(self._buf, self._pos)
            if common is not None:  # the usual answer, whole in the buffer: no line copies
                start = common.end()
                end = start + int(common.group(5))
                if self._buf[end : end + 3] == b")\r\n":
                    self._pos = end + 3
                    yield _usual(common, bytes(self._buf[start:end]))
                    continue
            line = self.line()
            if line.startswith(done):
                status = line[len(done) :]
                if not status.upper().startswith(b"OK"):
                    raise FetchFailed(status.decode("utf-8", "replace")[:200])
                return
            texts: list[bytes] = []
            literals: list[bytes] = []
            common = _COMMON.match(line)
            if common is not None:  # one regex for the usual shape (Dovecot's, for one)
                data = self.take(int(common.group(5)))
                after = self.line()
                if after == b")":
                    yield _usual(common, data)
                    continue
                texts.append(line[: common.start(5) - 1])  # something follows: read it all
                literals.append(data)
                line = after
            while line.endswith(b"}"):
                literal = _LITERAL.search(line)
                if literal is None:
                    break
                texts.append(line[: literal.start()])
                literals.append(self.take(int(literal.group(1))))
                line = self.line()
            texts.append(line)
            if not texts[0].startswith(b"* ") or b" FETCH " not in texts[0][:40]:
                continue  # EXISTS, EXPUNGE, a server notice...
            message = _message(texts, literals)
            if message is not None:
                yield message


_FLAG_SETS: dict[bytes, tuple[str, ...]] = {}  # b"\\Seen \\Answered" -> ("\\Seen", "\\Answered")


def _usual(common: re.Match[bytes], data: bytes) -> RawMessage:
    """The message of an answer of the usual shape (see ``_COMMON``)."""
    uid, flag_text, when, size, _ = common.groups()
    flags = _FLAG_SETS.get(flag_text)
    if flags is None:
        flags = tuple(flag_text.decode("ascii", "replace").split())
        if len(_FLAG_SETS) < 1000:  # a mailbox uses a handful of flag sets
            _FLAG_SETS[flag_text] = flags
    return RawMessage(int(uid), data, flags, internaldate_seconds(when), int(size))


def read_fetch(read1: Callable[[], bytes], tag: bytes) -> Iterator[RawMessage]:
    """The messages of one UID FETCH answer read from ``read1`` (see :meth:`Reader.answer`)."""
    return Reader(read1).answer(tag)


def _message(texts: list[bytes], literals: list[bytes]) -> RawMessage | None:
    attributes = b"".join(texts)
    uid = _UID.search(attributes)
    if uid is None:
        return None
    data = None
    for before, literal in zip(texts, literals, strict=False):
        if _BODY_BEFORE.search(before):
            data = literal
            break
    else:
        inline = _BODY_INLINE.search(attributes)
        if inline is not None:
            quoted = inline.group(2)
            data = b"" if quoted is None else re.sub(rb"\\(.)", rb"\1", quoted)
    if data is None:
        return None
    flags = _FLAGS.search(attributes)
    when = _INTERNALDATE.search(attributes)
    size = _SIZE.search(attributes)
    return RawMessage(
        uid=int(uid.group(1)),
        data=data,
        flags=tuple(flags.group(1).decode("ascii", "replace").split()) if flags else (),
        received=internaldate_seconds(when.group(1)) if when else None,
        size=int(size.group(1)) if size else len(data),
    )


_MONTHS = {name.encode(): number for name, number in MONTH_NUMBERS.items()}
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAYS: dict[bytes, int] = {}  # "27-Nov-2026" -> days since 1970-01-01


def internaldate(value: bytes) -> datetime | None:
    """``27-Nov-2026 12:00:00 +0100`` in UTC; None when unreadable."""
    return _utc(internaldate_seconds(value))


def _utc(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def internaldate_seconds(value: bytes) -> int | None:
    """An INTERNALDATE in seconds since the epoch; None when unreadable.

    By hand, with the day number of each date computed once: ``strptime`` costs about 40 us a
    call, and a mailbox holds few distinct days.
    """
    try:
        value = value.strip()
        day_text, clock, zone = value.split(b" ")
        days = _DAYS.get(day_text)
        if days is None:
            day, month, year = day_text.split(b"-")
            days = date(int(year), _MONTHS[month.lower()], int(day)).toordinal() - _EPOCH_DAY
            if len(_DAYS) > 100_000:
                _DAYS.clear()
            _DAYS[day_text] = days
        hour, minute, second = clock.split(b":")
        offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
        if zone[:1] == b"-":
            offset = -offset
        return days * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second) - offset
    except (ValueError, KeyError, OverflowError):
        return None

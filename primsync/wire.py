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
from datetime import UTC, date, datetime
from typing import NamedTuple

from primsync.errors import FetchFailed
from primsync.parse import MONTH_NUMBERS

__all__ = [
    "FetchFailed",
    "RawMessage",
    "Reader",
    "UnreadableFetch",
    "fetch_items",
    "internaldate",
    "internaldate_seconds",
    "read_fetch",
]

_LARGE = 4 << 20  # a literal beyond this is gathered in pieces
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_USUAL = (
    rb'\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)\r\n]*)\) INTERNALDATE "([^"\r\n]*)" '
    rb"RFC822\.SIZE (\d+) BODY\[[^\]\r\n]*\] \{(\d+)\}"
)
_COMMON = re.compile(_USUAL + rb"$")  # on a line
_COMMON_AT = re.compile(_USUAL + rb"\r\n")  # in the buffer


class RawMessage(NamedTuple):
    """One FETCH answer: the header block (or the whole message) and its attributes. (A
    named tuple: one is made for every message fetched, in half a frozen dataclass's time.)"""

    uid: int
    data: bytes
    flags: tuple[str, ...]
    received: int | None  # INTERNALDATE, in seconds since the epoch
    size: int
    # a later FETCH response with new FLAGS for a message already read (Gmail, ProtonMail
    # Bridge, CONDSTORE's MODSEQ updates): only ``uid`` and ``flags`` mean anything
    update: bool = False

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

        The usual shape (``_USUAL``) is matched in the read buffer; any other is read item by
        item (:func:`fetch_items`): names in any case, literals or quoted strings or NIL
        anywhere, a ``UID 5`` inside a string taken for what it is. A message whose items come
        in several FETCH responses (RFC 3501 7.4.2) is put together by its sequence number.
        Untagged answers other than FETCH are skipped, as are FETCH responses that never get a
        UID and a body (unsolicited flag changes). Raises :class:`FetchFailed` on NO/BAD (and,
        after reading the whole answer, :class:`UnreadableFetch` when a response could not be
        read: the caller fetches those messages another way), ``ConnectionError`` when the
        connection ends first.
        """
        done = tag + b" "
        partial: dict[int, dict[bytes, object]] = {}  # seq -> items of an incomplete message
        unreadable: list[bytes] = []
        read: dict[int, int] = {}  # seq -> UID of the messages handed on
        while True:
            common = _COMMON_AT.match(self._buf, self._pos)
            if common is not None:  # the usual answer, whole in the buffer: no line copies
                start = common.end()
                end = start + int(common.group(6))
                if self._buf[end : end + 3] == b")\r\n":
                    self._pos = end + 3
                    message = _usual(common, bytes(self._buf[start:end]), partial)
                    read[int(common.group(1))] = message.uid
                    yield message
                    continue
            line = self.line()
            if line.startswith(done):
                status = line[len(done) :]
                if not status.upper().startswith(b"OK"):
                    raise FetchFailed(status.decode("utf-8", "replace")[:200])
                for items in partial.values():  # what came in pieces, now whole
                    whole = _from_items(items)
                    if whole is not None:
                        yield whole
                if unreadable:
                    raise UnreadableFetch(unreadable)
                return
            texts: list[bytes] = []
            literals: list[bytes] = []
            common = _COMMON.match(line)
            if common is not None:  # one regex for the usual shape (Dovecot's, for one)
                data = self.take(int(common.group(6)))
                after = self.line()
                if after == b")":
                    message = _usual(common, data, partial)
                    read[int(common.group(1))] = message.uid
                    yield message
                    continue
                texts.append(line[: common.start(6) - 1])  # something follows: read it all
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
            head = _FETCH_HEAD.match(texts[0])
            if head is None:
                continue  # EXISTS, EXPUNGE, a server notice...
            try:
                items = fetch_items(texts, literals, head.end())
            except ValueError:
                unreadable.append(texts[0][:200])
                continue
            seq = int(head.group(1))
            if seq in read and _body_key(items) is None:  # new flags of a message read
                if isinstance(items.get(b"FLAGS"), tuple):
                    yield _flags_update(read[seq], items)
                continue
            merged = partial.pop(seq, {})
            merged.update(items)
            if _COMPLETE <= merged.keys() and _body_key(merged) is not None:
                whole = _from_items(merged)
                if whole is not None:
                    read[seq] = whole.uid
                    yield whole
                    continue
            partial[seq] = merged


_FLAG_SETS: dict[bytes, tuple[str, ...]] = {}  # b"\\Seen \\Answered" -> ("\\Seen", "\\Answered")


def _usual(
    common: re.Match[bytes], data: bytes, partial: dict[int, dict[bytes, object]]
) -> RawMessage:
    """The message of an answer of the usual shape (see ``_COMMON``): complete in itself
    (earlier pieces of the same message, if any, add nothing it lacks)."""
    seq, uid, flag_text, when, size, _ = common.groups()
    if partial:  # rare: earlier pieces of this message, now superseded
        partial.pop(int(seq), None)
    flags = _FLAG_SETS.get(flag_text)
    if flags is None:
        if b'"' in flag_text:  # a keyword quoted with spaces in it (Gmail's): kept whole
            flags = tuple(
                bytes(t).decode("utf-8", "replace")
                for t in _tokens([flag_text], [], 0)
                if isinstance(t, bytes)
            )
        else:
            flags = tuple(flag_text.decode("ascii", "replace").split())
        if len(_FLAG_SETS) < 1000:  # a mailbox uses a handful of flag sets
            _FLAG_SETS[flag_text] = flags
    return RawMessage(int(uid), data, flags, internaldate_seconds(when), int(size))


def read_fetch(read1: Callable[[], bytes], tag: bytes) -> Iterator[RawMessage]:
    """The messages of one UID FETCH answer read from ``read1`` (see :meth:`Reader.answer`)."""
    return Reader(read1).answer(tag)


class UnreadableFetch(ValueError):
    """FETCH responses the reader could not take apart (their first lines are kept); the
    answer was read to its end, so the connection is still in step."""

    def __init__(self, heads: list[bytes]):
        super().__init__(f"{len(heads)} FETCH responses could not be read: {heads[0]!r}")
        self.heads = heads


_FETCH_HEAD = re.compile(rb"\* (\d+) FETCH \(", re.IGNORECASE)
_COMPLETE = frozenset((b"UID", b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"))
_ATOM_END = re.compile(rb'[ ()"\[]')


def _body_key(items: dict[bytes, object]) -> bytes | None:
    return next((k for k in items if k.startswith(b"BODY[")), None)


def fetch_items(texts: list[bytes], literals: list[bytes], start: int) -> dict[bytes, object]:
    """The items of one FETCH response — ``texts[0][start:]`` onwards, just after its ``(``,
    with ``literals[i]`` between ``texts[i]`` and ``texts[i + 1]`` — as a dict: names upper-
    cased (a body section keeps its text), values as bytes (atoms, strings, literals), None
    (NIL) or tuples (lists). Raises ValueError on anything that is not a FETCH item list."""
    tokens = list(_tokens(texts, literals, start))
    items: dict[bytes, object] = {}
    i = 0
    depth = 0  # item lists inside the list, as Domino sends them: ``UID 5 (FLAGS () ...)``
    try:
        while True:
            name = tokens[i]
            if name is _CLOSE:
                if depth == 0:
                    break
                depth, i = depth - 1, i + 1
                continue
            if name is _OPEN:
                depth, i = depth + 1, i + 1
                continue
            if not isinstance(name, _Atom):
                raise ValueError(f"expected an item name, got {name!r}")
            if tokens[i + 1] is _CLOSE:  # a name without a value (Yandex: ``BODY[2] )``)
                value, i = None, i + 1
            else:
                value, i = _parse(tokens, i + 1)
            items[_item_name(name)] = value
    except IndexError:
        raise ValueError("the FETCH response ends in the middle") from None
    if i + 1 != len(tokens):
        raise ValueError("text after the end of the FETCH response")
    return items


def _item_name(name: bytes) -> bytes:
    """An item's name as the dict keys it: upper-cased, a body section keeping its text, and
    ``BODY.PEEK[...]`` echoed back by a server read as the ``BODY[...]`` it stands for.

    >>> _item_name(b"body.peek[HEADER.FIELDS (From)]"), _item_name(b"rfc822.size")
    (b'BODY[HEADER.FIELDS (From)]', b'RFC822.SIZE')
    """
    upper = name.upper()
    if upper.startswith(b"BODY.PEEK["):
        return b"BODY[" + name[10:]
    if upper.startswith(b"BODY["):
        return b"BODY[" + name[5:]
    return upper


def _parse(tokens: list[object], i: int) -> tuple[object, int]:
    """The value starting at ``tokens[i]`` and the index after it."""
    token = tokens[i]
    if token is _OPEN:
        out = []
        i += 1
        while tokens[i] is not _CLOSE:
            value, i = _parse(tokens, i)
            out.append(value)
        return tuple(out), i + 1
    if token is _CLOSE:
        raise ValueError("an item without a value")
    if isinstance(token, _Atom) and token.upper() == b"NIL":
        return None, i + 1
    return token, i + 1


class _Atom(bytes):
    """An atom (as opposed to a quoted string or a literal with the same bytes)."""


_OPEN, _CLOSE = object(), object()


def _tokens(texts: list[bytes], literals: list[bytes], start: int) -> Iterator[object]:
    for i, text in enumerate(texts):
        pos = start if i == 0 else 0
        n = len(text)
        while pos < n:
            c = text[pos]
            if c == 0x20:  # space
                pos += 1
            elif c == 0x28:  # (
                yield _OPEN
                pos += 1
            elif c == 0x29:  # )
                yield _CLOSE
                pos += 1
            elif c == 0x22:  # a quoted string, with \ escapes
                out = bytearray()
                pos += 1
                while True:
                    if pos >= n:
                        raise ValueError("unterminated quoted string")
                    ch = text[pos]
                    if ch == 0x5C and pos + 1 < n:
                        out.append(text[pos + 1])
                        pos += 2
                    elif ch == 0x22:
                        pos += 1
                        break
                    else:
                        out.append(ch)
                        pos += 1
                yield bytes(out)
            else:  # an atom; a [section] in it may hold spaces and parentheses
                begin = pos
                while pos < n:
                    m = _ATOM_END.search(text, pos)
                    if m is None:
                        pos = n
                        break
                    pos = m.start()
                    if text[pos] != 0x5B:  # not [
                        break
                    close = text.find(b"]", pos)
                    if close < 0:
                        raise ValueError("unterminated [section]")
                    pos = close + 1
                yield _Atom(text[begin:pos])
        if i < len(literals):
            yield literals[i]


def _flags_update(uid: int, items: dict[bytes, object]) -> RawMessage:
    """The newest FLAGS of message ``uid`` (read earlier in the answer)."""
    flags = items[b"FLAGS"]
    assert isinstance(flags, tuple)
    return RawMessage(
        uid=uid,
        data=b"",
        flags=tuple(f.decode("ascii", "replace") for f in flags if isinstance(f, bytes)),
        received=None,
        size=0,
        update=True,
    )


def _from_items(items: dict[bytes, object]) -> RawMessage | None:
    """A message from its items, or None without a UID or a body (a flag change)."""
    uid, key = items.get(b"UID"), _body_key(items)
    if not isinstance(uid, bytes) or not uid.isdigit() or key is None:
        return None
    data = items[key]
    data = data if isinstance(data, bytes) else b""
    flags = items.get(b"FLAGS")
    when = items.get(b"INTERNALDATE")
    size = items.get(b"RFC822.SIZE")
    return RawMessage(
        uid=int(uid),
        data=bytes(data),
        flags=tuple(f.decode("ascii", "replace") for f in flags if isinstance(f, bytes))
        if isinstance(flags, tuple)
        else (),
        received=internaldate_seconds(when) if isinstance(when, bytes) else None,
        size=int(size) if isinstance(size, bytes) and size.isdigit() else len(data),
    )


_MONTHS = {name.encode(): number for name, number in MONTH_NUMBERS.items()}
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_STARTS: dict[bytes, int] = {}  # "27-Nov-2026+0100" -> its midnight in seconds since 1970


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

    By hand, with the moment each date and zone begin computed once: ``strptime`` costs about
    40 us a call, and a mailbox holds few distinct days.
    """
    try:
        value = value.strip()
        day_text, clock, zone = value.split(b" ")
        key = day_text + zone
        start = _STARTS.get(key)
        if start is None:
            day, month, year = day_text.split(b"-")
            days = date(int(year), _MONTHS[month.lower()], int(day)).toordinal() - _EPOCH_DAY
            offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
            start = days * 86400 - (-offset if zone[:1] == b"-" else offset)
            if len(_STARTS) > 100_000:
                _STARTS.clear()
            _STARTS[key] = start
        if len(clock) == 8 and clock[2] == clock[5] == 58:  # HH:MM:SS
            return start + int(clock[:2]) * 3600 + int(clock[3:5]) * 60 + int(clock[6:])
        hour, minute, second = clock.split(b":")
        return start + int(hour) * 3600 + int(minute) * 60 + int(second)
    except (ValueError, KeyError, OverflowError):
        return None

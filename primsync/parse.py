"""Bytes → header fields. Never raises: what cannot be read becomes a ``defects`` note.

The review only needs a handful of headers, so they are read with the fast compat32 helpers of
the ``email`` package (``decode_header``, ``getaddresses``, ``parsedate_tz``) rather than the
slow structured-header policy.

>>> h = parse_headers(b"From: =?utf-8?q?Ana_L=C3=B3pez?= <Ana@Example.COM>\\r\\nSubject: Hi\\r\\n")
>>> h.from_name, h.from_addr, h.subject
('Ana López', 'ana@example.com', 'Hi')
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.base64mime import decode as b64decode
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.quoprimime import header_decode
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache
from typing import NamedTuple

# an RFC 2047 encoded word, as the email package splits them (written here, not imported from
# email.header's private ``ecre``): =?charset?q-or-b?encoded text?=
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?]*?)\?(?P<encoding>[qQbB])\?(?P<encoded>.*?)\?=", re.MULTILINE
)

__all__ = [
    "Body",
    "HeaderFields",
    "Part",
    "RawSubject",
    "decode_subject",
    "decode_text",
    "dedupe_key",
    "normalize_address",
    "normalize_message_id",
    "parse_date",
    "parse_headers",
    "parse_id_list",
    "parse_message",
    "parse_wanted_headers",
]

REVIEW_HEADERS = (
    "From",
    "To",
    "Cc",
    "Date",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Thread-Index",  # Outlook's thread, for replies that lost their ids (primsync.replies)
)

_BODY_PARSER = BytesParser(policy=compat32)
_ID = re.compile(r"<([^<>]*)>")
_MAX_HEADER_CHARS = 100_000  # a single header beyond this is cut, with a defect


class HeaderFields(NamedTuple):
    """The header fields of one message, decoded; ``defects`` says what could not be read.
    (A named tuple: made for every message a review keeps, in a third of a frozen
    dataclass's time.)"""

    from_addr: str = ""
    from_name: str = ""
    to_addrs: tuple[str, ...] = ()
    cc_addrs: tuple[str, ...] = ()
    date: datetime | None = None
    subject: str = ""
    message_id: str | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    thread_index: str | None = None


def _unsurrogate(value: str, defects: list[str], name: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: read them as UTF-8, else Latin-1."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"{name}: 8-bit header that is not UTF-8, read as Latin-1")
        return raw.decode("latin-1")


def decode_text(value: str, defects: list[str] | None = None, name: str = "header") -> str:
    """Decode RFC 2047 encoded words; unknown charsets give replacement characters."""
    sink: list[str] = [] if defects is None else defects
    value = _unsurrogate(value, sink, name)
    if "=?" not in value:
        return value
    text, found = _words_once(value, name)  # subjects and names repeat: each is read once
    sink.extend(found)
    return text


@lru_cache(maxsize=65536)
def _words_once(value: str, name: str) -> tuple[str, tuple[str, ...]]:
    one = _one_word(value)
    if one is not None:
        return one, ()
    sink: list[str] = []
    return _decode_words(value, sink, name), tuple(sink)


_PLAIN_Q = re.compile(r"(?:[^=\s]|=[0-9A-Fa-f]{2})*")


def _charset(declared: str | None, default: str = "ascii") -> str:
    """The codec to read text declared in ``declared``: undeclared or "unknown" 8-bit text is
    read as UTF-8 (what it nearly always is today)."""
    name = (declared or default).lower()
    return "utf-8" if name in ("unknown-8bit", "x-unknown", "us-ascii", "ascii") else name


def decode_bytes(data: bytes, declared: str | None, sink: list[str], what: str) -> str:
    """``data`` as text in its declared charset; an unknown charset or invalid bytes are read
    with replacement characters and noted in ``sink`` (a defect), never raised."""
    charset = _charset(declared)
    try:
        return data.decode(charset)
    except LookupError:
        sink.append(f"{what}: unknown charset {charset!r}, read with replacement characters")
        return data.decode("utf-8", "replace")
    except UnicodeDecodeError:
        sink.append(f"{what}: bytes invalid in charset {charset!r}, replacement characters used")
        return data.decode(charset, "replace")


def _one_word(value: str) -> str | None:
    """The common case of a single encoded word amid ASCII text, decoded as ``decode_header``
    would (its regex, its Q and B decoders) at a fifth of the cost; None for anything else."""
    parts = _ENCODED_WORD.split(value)
    if len(parts) != 5 or not value.isascii():
        return None
    prefix, declared, encoding, encoded, suffix = parts
    charset = _charset(declared)
    try:
        if encoding in "qQ":
            if _PLAIN_Q.fullmatch(encoded):  # only =XX escapes: binascii, in C, agrees
                word = binascii.a2b_qp(encoded.encode("ascii"), header=True)
            else:
                word = header_decode(encoded).encode("raw-unicode-escape")
        else:
            word = b64decode(encoded + "==="[: (4 - len(encoded) % 4) % 4])
        return prefix.lstrip() + word.decode(charset) + suffix
    except (binascii.Error, LookupError, UnicodeError, ValueError):
        return None  # the general decoder says what is wrong


def _decode_words(value: str, sink: list[str], name: str) -> str:
    try:
        parts = decode_header(value)
    except Exception as exc:  # email.errors.HeaderParseError and friends
        sink.append(f"{name}: undecodable encoded words ({type(exc).__name__})")
        return value
    return "".join(
        chunk if isinstance(chunk, str) else decode_bytes(chunk, charset, sink, name)
        for chunk, charset in parts
    )


def normalize_address(address: str) -> str:
    """Trimmed, lower-cased, IDNA domain: the form addresses are compared in.

    >>> normalize_address("  <Zoë@Bücher.Example> ")
    'zoë@xn--bcher-kva.example'
    """
    address = address.strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    domain = domain.strip().rstrip(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return f"{local.strip()}@{domain}"


@lru_cache(maxsize=65536)
def _addresses_once(value: str, name: str) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    sink: list[str] = []
    return tuple(_parse_addresses(value, sink, name)), tuple(sink)


# The usual address list, read without the email package: ``a@b.example``, ``Name <a@b>``,
# ``"Last, First" <a@b>``, comma-separated; ASCII, no comments, escapes, routes or domain
# literals. ``getaddresses`` gives the same pairs for each (tests/test_parse.py checks it on
# generated lists and the shared corpus) at a fifth of the cost; anything else goes to it.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PHRASE = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+(?:[ \t]+[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)*"
_ITEM = rf'(?:"([^"\\\r\n]*)"|({_PHRASE}))?[ \t]*<({_ADDR_SPEC})>|({_ADDR_SPEC})'
_SIMPLE_LIST = re.compile(rf"[ \t]*(?:{_ITEM})(?:[ \t]*,[ \t]*(?:{_ITEM}))*[ \t]*")
_SIMPLE_ITEM = re.compile(_ITEM)


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """``getaddresses([value])`` for the usual shapes (see ``_SIMPLE_LIST``); None otherwise.

    >>> _simple_addresses('Ana  Lopez <a@x.example>, "Doe, J." <j@y.example>, k@z.example')
    [('Ana Lopez', 'a@x.example'), ('Doe, J.', 'j@y.example'), ('', 'k@z.example')]
    >>> _simple_addresses("Ana López <a@x.example>") is None  # the email package reads it
    True
    """
    if not value.isascii() or not _SIMPLE_LIST.fullmatch(value):
        return None
    return [
        (quoted or " ".join(phrase.split()), routed or bare)
        for quoted, phrase, routed, bare in _SIMPLE_ITEM.findall(value)
    ]


def _parse_addresses(value: str, sink: list[str], name: str) -> list[tuple[str, str]]:
    value = _unsurrogate(value, sink, name)
    pairs = _simple_addresses(value)
    try:
        if pairs is None:
            pairs = getaddresses([value])
    except Exception as exc:
        sink.append(f"{name}: unparsable address list ({type(exc).__name__})")
        return []
    out = []
    for display, addr in pairs:
        if "@" not in addr:
            if addr or display:
                sink.append(f"{name}: not an address: {(addr or display)[:80]!r}")
            continue
        if "=?" in addr:  # some mailers encode a non-ASCII domain as an encoded word
            sink.append(f"{name}: encoded word inside an address")
            addr = decode_text(addr, sink, name)
        out.append((decode_text(display, sink, name).strip(), normalize_address(addr)))
    return out


def normalize_message_id(value: str | None) -> str | None:
    """The first ``<id>`` of a header, whitespace removed and lower-cased; None when empty.

    >>> normalize_message_id("  <ABC.123@Mail.Example>  ")
    '<abc.123@mail.example>'
    """
    if not value:
        return None
    first = _ID.search(value)
    if first is not None and value.isascii():  # the usual case, without building the list
        inner = first.group(1)
        if " " in inner or not inner.isprintable():
            inner = "".join(inner.split())
        if inner:
            return f"<{inner.lower()}>"
    ids = parse_id_list(value)
    return ids[0] if ids else None


def parse_id_list(value: str | None) -> list[str]:
    """Every message id in a References / In-Reply-To header, in header order (oldest first)."""
    if not value:
        return []
    if not value.isascii():
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    found = ["".join(m.split()) for m in _ID.findall(value)]
    if not found:  # broken mailers drop the brackets
        found = [tok for tok in re.split(r"[\s,]+", value) if "@" in tok]
    return [f"<{i.lower()}>" for i in found if i]


def parse_date(value: str | None, defects: list[str] | None = None) -> datetime | None:
    """An RFC 5322 date in UTC; None (and a defect) when it cannot be read."""
    if not value:
        return None
    sink: list[str] = [] if defects is None else defects
    common = _DATE.fullmatch(value.strip())
    if common is not None:  # the usual form, read without the general parser
        day, month, year, hour, minute, second, zone = common.groups()
        number = MONTH_NUMBERS.get(month.lower())
        offset = _ZONES.get(zone)
        if offset is None:
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
            _ZONES[zone] = offset = offset if zone[0] == "+" else -offset
        if number is not None:
            try:
                when = datetime(
                    int(year), number, int(day), int(hour), int(minute), int(second), tzinfo=UTC
                )
                return when - offset
            except (ValueError, OverflowError):
                pass  # the general parser below says what is wrong
    try:
        parsed = parsedate_tz(_unsurrogate(value, sink, "Date"))
    except Exception:
        parsed = None
    if parsed is None:
        sink.append(f"Date: unparsable {value.strip()[:60]!r}")
        return None
    try:
        seconds = parsed[9] or 0
        year, month, day, hour, minute, second = parsed[:6]
        naive = datetime(year, month, day, hour, minute, second)
        return (naive - timedelta(seconds=seconds)).replace(tzinfo=UTC)
    except (ValueError, OverflowError, TypeError):
        sink.append(f"Date: out of range {value.strip()[:60]!r}")
        return None


_DATE = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d\d):(\d\d):(\d\d) ([+-]\d{4})"
    r"(?: \([^()]*\))?"
)
_ZONES: dict[str, timedelta] = {}  # "+0100" -> 1 hour (at most 20,000 distinct values)
MONTH_NUMBERS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}  # the English month abbreviations of dates in headers and INTERNALDATE
_WANTED = frozenset(h.lower() for h in REVIEW_HEADERS)
_ONCE = frozenset(("from", "subject", "message-id", "date"))


# one header line (``Name: value`` with its continuation lines), a line that is not a header,
# or a continuation line with no header before it
_FIELD = re.compile(
    r"^(?:((?![ \t])[^:\n]*:)([^\n]*(?:\n[ \t][^\n]*)*)|([^ \t\n][^\n]*)|[ \t][^\n]*)$", re.M
)
_ODD_BREAKS = re.compile(
    "[\r\x0b\x0c\x1c-\x1e]"
)  # line breaks for str.splitlines, as mailers use them
_KEYS: dict[str, str] = {}  # "Message-Id:" -> "message-id"
# the usual block, read and checked in one pass: a well-formed "Name: value" line with its
# continuation lines (none of the odd line breaks in them), or else, in the third group, what is
# not one (the block is then read again once its odd line breaks are made LF, or line by line).
# Each field is matched once, from where the last ended: no backtracking across fields (a
# fullmatch of the block's fields as one pattern took half a second on a line of 20 colons
# followed by a form feed, doubling with each colon more).
_PAIR_OR_NOT = re.compile(
    r"([!-9;-~]+):[ \t]*([^\n\r\x0b\x0c\x1c-\x1e]*(?:\n[ \t][^\n\r\x0b\x0c\x1c-\x1e]*)*)\n?"
    r"|([^\n]*\n?)"
)
_WANTED_KEY: dict[str, str] = {}  # "Message-Id" -> "message-id"; "" for a header not wanted


def _checked_fields(block: str, defects: list[str]) -> dict[str, str] | None:
    """:func:`_raw_headers` of a well-formed block (see ``_PAIR_OR_NOT``), found so in the same
    pass; None (and no defect noted) for any other block."""
    found: dict[str, str] = {}
    noted: list[str] = []
    for name, value, other in _PAIR_OR_NOT.findall(block):
        if not name:
            if other:  # a line that is not a well-formed field
                return None
            continue  # the empty match at the end of the block
        key = _WANTED_KEY.get(name)
        if key is None:
            key = name.lower() if name.lower() in _WANTED else ""
            if len(_WANTED_KEY) < 10_000:
                _WANTED_KEY[name] = key
        if not key:
            continue
        if key in found or "\n" in value or len(value) > _MAX_HEADER_CHARS:
            _keep(found, key, name, value, noted)
        else:  # the usual field, as _keep stores it
            found[key] = value.strip()
    if noted:
        defects.extend(noted)
    return found


def _keep(found: dict[str, str], key: str, name: str, value: str, defects: list[str]) -> None:
    """Store the first value of ``key``, unfolded and trimmed (a repeat is a defect for the
    headers a message has once; an overlong value is cut, with a defect)."""
    if key in found:
        if key in _ONCE:
            defects.append(f"{name}: header repeated, the first is used")
        return
    if "\n" in value:
        value = " ".join(p.strip() for p in value.split("\n"))
    value = value.strip()
    if len(value) > _MAX_HEADER_CHARS:
        defects.append(f"{name}: header of {len(value)} characters cut")
        value = value[:_MAX_HEADER_CHARS].strip()
    found[key] = value


def _raw_headers(raw: bytes, defects: list[str]) -> dict[str, str]:
    """First occurrence of each wanted header, unfolded; repeated ones noted as defects.

    One regex over the header block: the email package's parser does the same for these
    fields (8-bit bytes kept as surrogate escapes) at a fifth of the speed.
    """
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = (raw if end < 0 else raw[:end]).decode("ascii", "surrogateescape")
    if "\r" in block:
        block = block.replace("\r\n", "\n")
    found = _checked_fields(block, defects)
    if found is None and _ODD_BREAKS.search(block):
        block = _ODD_BREAKS.sub("\n", block)
        found = _checked_fields(block, defects)
    return found if found is not None else _any_fields(block, defects)


def _any_fields(block: str, defects: list[str]) -> dict[str, str]:
    """:func:`_raw_headers` of any block (its line breaks made LF), line by line: lines
    that are not headers, and continuation lines with no header before them, are defects."""
    found: dict[str, str] = {}
    for name, value, other in _FIELD.findall(block):
        if not name:
            if other.strip():
                defects.append("headers: a line that is not a header")
            continue
        key = _KEYS.get(name)
        if key is None:
            key = name[:-1].strip().lower()
            if len(_KEYS) < 10_000:
                _KEYS[name] = key
        if key in _WANTED:
            _keep(found, key, name[:-1].strip(), value, defects)
    return found


class RawSubject(str):
    """A Subject as it stands in the header, its encoded words (or 8-bit bytes) not decoded
    yet: :func:`parse_headers` leaves it so when asked (``decode_subject=False``), for a caller
    that decodes only the rows it keeps (:func:`decode_subject`)."""

    __slots__ = ()


def decode_subject(subject: str, defects: list[str]) -> str:
    """A :class:`RawSubject` decoded, what it could not read added to ``defects`` (any other
    string is returned as it is)."""
    if type(subject) is not RawSubject:
        return subject
    return decode_text(str(subject), defects, "Subject")


# told the sender, the recipients and whether a reply header is there: go on reading?
Wanted = Callable[[str, tuple[str, ...], tuple[str, ...], bool], bool]


def parse_headers(raw: bytes, *, decode_subject: bool = True) -> HeaderFields:
    """Parse a header block (or a whole message); never raises. ``decode_subject=False``: a
    Subject that needs decoding is left a :class:`RawSubject` (the decoding's defects, which
    would come last, are then left out), unless there is no Message-ID (the subject is then
    part of the message's identity: :func:`dedupe_key`)."""
    fields = _parse_headers(raw, decode_subject, None)
    assert fields is not None  # nothing to refuse it
    return fields


def parse_wanted_headers(
    raw: bytes, wanted: Wanted, *, decode_subject: bool = True
) -> HeaderFields | None:
    """:func:`parse_headers`, or None as soon as ``wanted`` — told the sender, the To and Cc
    addresses and whether In-Reply-To or References is there — says the message is not
    wanted: its date, ids and subject are then never read."""
    return _parse_headers(raw, decode_subject, wanted)


def _parse_headers(raw: bytes, decode_subject: bool, wanted: Wanted | None) -> HeaderFields | None:
    defects: list[str] = []
    h = _raw_headers(raw or b"", defects)
    get = h.get
    senders: tuple[tuple[str, str], ...] = ()
    if "from" in h:
        senders, found = _addresses_once(h["from"], "From") if h["from"] else ((), ())
        defects.extend(found)
    if not senders:
        defects.append("From: missing" if "from" not in h else "From: no usable address")
    from_name, from_addr = senders[0] if senders else ("", "")
    to_addrs = _address_list(get("to"), "To", defects)
    cc_addrs = _address_list(get("cc"), "Cc", defects)
    if wanted is not None:
        replies = bool(get("in-reply-to") or get("references"))
        if not wanted(from_addr, to_addrs, cc_addrs, replies):
            return None
    message_id = normalize_message_id(get("message-id"))
    if message_id is None:
        defects.append("Message-ID: missing")
    date = parse_date(h["date"], defects) if "date" in h else None
    subject = get("subject", "")
    if not subject:
        pass
    elif decode_subject or message_id is None:
        subject = decode_text(subject, defects, "Subject")  # the last defects of a message
    elif "=?" in subject or not subject.isascii():
        subject = RawSubject(subject)
    return HeaderFields(
        from_addr=from_addr,
        from_name=from_name,
        to_addrs=to_addrs,
        cc_addrs=cc_addrs,
        date=date,
        subject=subject,
        message_id=message_id,
        in_reply_to=tuple(parse_id_list(get("in-reply-to"))),
        references=tuple(parse_id_list(get("references"))),
        defects=tuple(defects),
        thread_index=get("thread-index") or None,
    )


def _address_list(value: str | None, name: str, defects: list[str]) -> tuple[str, ...]:
    if not value:
        return ()
    addresses, found = _addresses_only_once(value, name)
    if found:
        defects.extend(found)
    return addresses


@lru_cache(maxsize=65536)
def _addresses_only_once(value: str, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pairs, found = _addresses_once(value, name)
    return tuple(address for _, address in pairs), found


def dedupe_key(fields: HeaderFields, size: int) -> str:
    """The message's identity: its normalized Message-ID, else a hash of stable headers + size."""
    if fields.message_id:
        return fields.message_id
    stable = "\x1f".join(
        [
            fields.from_addr,
            ",".join(fields.to_addrs),
            ",".join(fields.cc_addrs),
            fields.date.isoformat() if fields.date else "",
            fields.subject,
            str(size),
        ]
    )
    return "sha256:" + hashlib.sha256(stable.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Part:
    """An attachment or inline part, decoded."""

    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True, slots=True)
class Body:
    """A whole message's text, HTML and parts; ``defects`` says what could not be read."""

    text: str = ""
    html: str = ""
    parts: tuple[Part, ...] = ()
    defects: tuple[str, ...] = ()


_MAX_DEPTH = 50  # deeper MIME nesting is kept as one opaque part, with a defect
MAX_PART_BYTES = 64 * 1024 * 1024  # a larger attachment is noted as a defect, not stored


def _text_of(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset(), defects, "body").replace("\r\n", "\n")


def _filename(part: Message, defects: list[str], index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
        defects.append(f"part {index}: unreadable file name")
    if name:
        return decode_text(str(name), defects, f"part {index} file name").strip()
    subtype = part.get_content_subtype() or "bin"
    return f"part-{index}.{'eml' if part.get_content_type() == 'message/rfc822' else subtype}"


def _part_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        inner = part.get_payload()
        if isinstance(inner, list):
            inner = inner[0] if len(inner) == 1 else None
        if inner is not None and not isinstance(inner, str):
            try:
                return inner.as_bytes()
            except Exception:
                pass
        return part.as_bytes()
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def parse_message(raw: bytes) -> Body:
    """Text body, HTML body and attachments of a whole message; never raises.

    The first text/plain and text/html parts that are not attachments make the bodies; every
    other leaf (and every attached message, kept whole as ``.eml``) is a :class:`Part`.
    """
    defects: list[str] = []
    try:
        msg = _BODY_PARSER.parsebytes(raw or b"")
    except Exception as exc:  # the email package hardly ever raises, but a batch must go on
        return Body(text=raw.decode("utf-8", "replace"), defects=(f"unparsable: {exc!r}",))
    text: list[str] = []
    html: list[str] = []
    parts: list[Part] = []

    def visit(part: Message, depth: int) -> None:
        for defect in part.defects:
            defects.append(f"MIME: {type(defect).__name__}")
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if part.is_multipart() and ctype != "message/rfc822":
            if depth >= _MAX_DEPTH:
                defects.append(f"MIME nested deeper than {_MAX_DEPTH}: kept as one part")
                parts.append(Part(f"part-{len(parts) + 1}.mime", ctype, part.as_bytes()))
                return
            for child in part.get_payload():
                if isinstance(child, Message):
                    visit(child, depth + 1)
            return
        is_body = disposition != "attachment" and ctype in ("text/plain", "text/html")
        if is_body and ctype == "text/plain" and not text:
            text.append(_text_of(part, defects))
            return
        if is_body and ctype == "text/html" and not html:
            html.append(_text_of(part, defects))
            return
        cid = part.get("Content-ID")
        name = _filename(part, defects, len(parts) + 1)
        content = _part_bytes(part)
        if len(content) > MAX_PART_BYTES:
            defects.append(
                f"part {name!r}: {len(content)} bytes, over the {MAX_PART_BYTES} byte limit: "
                "not stored (it stays in the mailbox)"
            )
            content = b""
        parts.append(
            Part(
                filename=name,
                content_type=ctype,
                content=content,
                inline=disposition == "inline" or (cid is not None and disposition is None),
                content_id=normalize_message_id(str(cid)) if cid else None,
            )
        )

    try:
        visit(msg, 0)
    except Exception as exc:
        defects.append(f"MIME walk stopped: {type(exc).__name__}")
    return Body(text="".join(text), html="".join(html), parts=tuple(parts), defects=tuple(defects))

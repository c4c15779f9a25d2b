"""parse: header bytes → fields, on byte literals; it never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from primsync.parse import (
    HeaderFields,
    dedupe_key,
    normalize_address,
    normalize_message_id,
    parse_headers,
    parse_id_list,
)


def test_decodes_encoded_words_names_and_dates():
    h = parse_headers(
        b"From: =?utf-8?q?L=C3=A9a_Dubois?= <Lea.Dubois@Mail.EXAMPLE>\r\n"
        b'To: a@b.example, "Doe, John" <JOHN@x.example>\r\n'
        b"Cc: =?iso-8859-1?q?Ren=E9?= <rene@y.example>\r\n"
        b"Subject: =?utf-8?b?w4lsw6h2ZQ==?= and more\r\n"
        b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
        b"Message-ID: < Abc.1@Host.Example >\r\n\r\nbody"
    )
    assert h.from_name == "Léa Dubois" and h.from_addr == "lea.dubois@mail.example"
    assert h.to_addrs == ("a@b.example", "john@x.example")
    assert h.cc_addrs == ("rene@y.example",)
    assert h.subject == "Élève and more"
    assert h.date == datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)
    assert h.message_id == "<abc.1@host.example>"
    assert h.defects == ()


def test_references_and_in_reply_to_keep_header_order():
    h = parse_headers(
        b"From: a@b\r\nMessage-ID: <m@x>\r\nReferences: <A@x>\r\n <b@x>   <c@X>\r\n"
        b"In-Reply-To: <c@x> (comment)\r\n\r\n"
    )
    assert h.references == ("<a@x>", "<b@x>", "<c@x>")
    assert h.in_reply_to == ("<c@x>",)
    assert parse_id_list("a@x b@y") == ["<a@x>", "<b@y>"]  # brackets dropped by a broken mailer


def test_missing_and_broken_headers_are_defects():
    h = parse_headers(b"Subject: =?x-unknown-cs?q?caf=E9?=\r\nDate: yesterday-ish\r\n\r\n")
    assert h.from_addr == "" and h.message_id is None and h.date is None
    assert "From: missing" in h.defects
    assert "Message-ID: missing" in h.defects
    assert any(d.startswith("Date: unparsable") for d in h.defects)
    assert any("unknown charset" in d for d in h.defects)
    assert h.subject.startswith("caf")


def test_raw_8bit_headers():
    h = parse_headers(b"From: \xc3\xa9lise <e@x>\r\nSubject: caf\xe9\r\nMessage-ID: <1@x>\r\n\r\n")
    assert h.from_name == "élise"
    assert h.subject == "café"
    assert any("Latin-1" in d for d in h.defects)


def test_addresses_are_normalized():
    assert normalize_address("  <Zoë@Bücher.Example.> ") == "zoë@xn--bcher-kva.example"
    assert normalize_address("ANA@EXAMPLE.COM") == "ana@example.com"
    h = parse_headers(b"From: =?utf-8?q?J=C3=BCrgen?= <j@=?utf-8?q?m=C3=BCnchen?=.example>\r\n\r\n")
    assert h.from_addr == "j@xn--mnchen-3ya.example"


def test_message_ids():
    assert normalize_message_id("  <ABC.123@Mail.Example>  ") == "<abc.123@mail.example>"
    assert normalize_message_id("") is None
    assert normalize_message_id(None) is None


def test_dedupe_key_prefers_message_id_and_is_stable_without():
    with_id = parse_headers(b"From: a@b\r\nMessage-ID: <X@y>\r\n\r\n")
    assert dedupe_key(with_id, 10) == "<x@y>"
    without = parse_headers(b"From: a@b\r\nSubject: s\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n")
    assert dedupe_key(without, 10) == dedupe_key(without, 10)
    assert dedupe_key(without, 10) != dedupe_key(without, 11)
    assert dedupe_key(without, 10).startswith("sha256:")


def test_empty_and_garbage():
    assert parse_headers(b"").defects
    assert parse_headers(b"\x00\xff\xfe garbage without colon\r\n\r\n").from_addr == ""


def assert_well_formed(fields: HeaderFields) -> None:
    """What every parse gives, whatever the input: normalized, typed, unfolded values."""
    for address in (fields.from_addr, *fields.to_addrs, *fields.cc_addrs):
        assert isinstance(address, str) and normalize_address(address) == address
    for text in (fields.from_name, fields.subject):
        assert isinstance(text, str) and "\r" not in text and "\n" not in text
    for mid in (fields.message_id, *fields.in_reply_to, *fields.references):
        assert mid is None or (mid.startswith("<") and mid.endswith(">") and " " not in mid)
    assert fields.date is None or fields.date.utcoffset() == timedelta(0)
    assert isinstance(fields.defects, tuple) and all(isinstance(d, str) for d in fields.defects)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_well_formed_fields(raw):
    fields = parse_headers(raw)
    assert_well_formed(fields)
    assert parse_headers(raw) == fields  # deterministic


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["From", "To", "Cc", "Date", "Subject", "Message-ID", "References"]),
            st.binary(max_size=200).filter(lambda b: b"\n" not in b and b"\r" not in b),
        ),
        max_size=8,
    )
)
def test_arbitrary_header_values_give_well_formed_fields(headers):
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    fields = parse_headers(raw + b"\r\n")
    assert_well_formed(fields)
    if not any(name == "From" for name, _ in headers):
        assert fields.from_addr == "" and fields.defects  # a missing From is a defect


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_messages_give_a_body_with_defects_as_data(raw):
    from primsync.parse import Body, parse_message

    for message in (raw, b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" + raw):
        body = parse_message(message)
        assert isinstance(body, Body) and isinstance(body.text, str)
        assert isinstance(body.html, str) and "\r\n" not in body.text
        assert all(isinstance(d, str) for d in body.defects)
        for part in body.parts:
            assert part.filename and isinstance(part.content, bytes)
            assert part.size == len(part.content)


def test_encoded_word_pattern_splits_as_the_email_package_does():
    """primsync keeps its own copy of the RFC 2047 pattern; this fails if the stdlib's changes."""
    from email.header import decode_header

    from primsync.parse import _ENCODED_WORD

    samples = [
        "=?utf-8?q?caf=C3=A9?= and =?ISO-8859-1?B?SGVsbG8=?=", "plain", "=?x?z?bad?=",
        "=?utf-8*fr?Q?a_b?==?utf-8?q?c?=", "a =?utf-8?q?multi?=\n =?utf-8?b?bGluZQ==?= end",
    ]  # fmt: skip
    stdlib = getattr(__import__("email.header").header, "ecre", None)
    for text in samples:
        if stdlib is not None:
            assert _ENCODED_WORD.split(text) == stdlib.split(text), text
    words = _ENCODED_WORD.findall(samples[0])
    assert words == [("utf-8", "q", "caf=C3=A9"), ("ISO-8859-1", "B", "SGVsbG8=")]
    assert decode_header(samples[0])[0] == (b"caf\xc3\xa9", "utf-8")


# pieces an address list is made of, the usual ones and the ones that send it to the email
# package: comments, escapes, stray quotes and brackets, routes, domain literals, non-ASCII
_ADDRESS_PIECES = st.sampled_from([
    "ana@x.example", "J.Doe@Mail.Example.COM", "o'neil+tag@sub-1.example", "a..b@x.example",
    "x@[10.0.0.1]", "@route:z@x.example", "x@y.", "<", ">", "<k@z.example>", "Ana", "Ana López",
    "=?utf-8?q?L=C3=A9a?=", "=?utf-8?b?TMOpYQ==?=", '"Doe, J."', '"a \\" b"', '"', "(note)",
    ",", ", ", " ", "\t", "  ", ".", "@", ":", ";", "undisclosed-recipients:;", "\\", "[", "]",
    "a@b@c.example", "-x@-y.example",
])  # fmt: skip


def _fast_or_email_package(value: str) -> tuple[object, object]:
    from email.utils import getaddresses

    from primsync.parse import _simple_addresses

    return _simple_addresses(value), getaddresses([value])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_ADDRESS_PIECES, min_size=1, max_size=9).map("".join))
def test_the_usual_address_lists_are_read_as_the_email_package_reads_them(value):
    fast, stdlib = _fast_or_email_package(value)
    assert fast is None or fast == stdlib


def test_the_address_fast_path_takes_the_usual_shapes_and_leaves_the_rest():
    usual = [
        "ana@x.example", " Ana  Lopez <Ana@X.example> ", '"Doe, J." <j@y.example>, k@z.example',
        '"" <a@b.example>', "=?utf-8?q?L=C3=A9a?= <lea@x.example>", "Ana<a@x.example>",
        "a.b <x@y.example>,\tc@d.example",
    ]  # fmt: skip
    for value in usual:
        fast, stdlib = _fast_or_email_package(value)
        assert fast == stdlib, value
    others = [
        "Ana López <a@x.example>", "a@x.example (Ana)", '"a \\" b" <a@x.example>', "a@x.example,",
        "undisclosed-recipients:;", "x@[10.0.0.1]", "<@route:z@x.example>",
        "a@x.example,,b@y.example",
    ]  # fmt: skip
    for value in others:
        assert _fast_or_email_package(value)[0] is None, value


def test_the_corpus_addresses_read_by_the_fast_path_are_the_email_packages(corpus_files):
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    from primsync.parse import _unsurrogate

    taken = 0
    for path in corpus_files:
        headers = BytesHeaderParser(policy=compat32).parsebytes(path.read_bytes())
        for name in ("From", "To", "Cc", "Reply-To"):
            for raw in headers.get_all(name) or []:
                if not isinstance(raw, str):
                    continue
                value = _unsurrogate(" ".join(raw.split("\n")).strip(), [], name)
                fast, stdlib = _fast_or_email_package(value)
                assert fast is None or fast == stdlib, (path.name, value)
                taken += fast is not None
    assert taken > 50  # the corpus's usual lists did take the fast path


# header lines of the usual shape and of the others: names in any case, values with spaces,
# tabs, folds, 8-bit bytes, odd line breaks, repeats, lines that are no header, a blank line
_HEADER_LINES = st.lists(
    st.tuples(
        st.sampled_from(["From", "to", "CC", "Subject", "Date", "Message-ID", "References",
                         "In-Reply-To", "Thread-Index", "X-Other", "Bad Name", "", " From"]),
        st.lists(st.sampled_from(["a@b.example", " ", "\t", "Hi", "  ", "\r\n ", "\r\n\t", "\n ",
                                  "\r", "\x0b", "\x0c", "\x1c", "é".encode().decode("latin-1"),
                                  "=?utf-8?q?x?=", ":", "<i@d>"]), max_size=6),
        st.sampled_from(["\r\n", "\n", "\r\n", "\r"]),
    ),
    max_size=8,
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(_HEADER_LINES)
def test_the_usual_blocks_short_path_gives_the_general_readers_fields_and_defects(lines):
    """``_raw_headers`` reads a well-formed block by a shorter path: it must give what the
    general, line-by-line reader gives (trimmed, unfolded, cut, repeats noted)."""
    from primsync.parse import _ODD_BREAKS, _any_fields, _raw_headers

    text = "".join(f"{name}:{''.join(parts)}{end}" for name, parts, end in lines)
    raw = text.encode("latin-1")
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    block = (raw if end < 0 else raw[:end]).decode("ascii", "surrogateescape")
    block = block.replace("\r\n", "\n")
    general_defects: list[str] = []
    general = _any_fields(_ODD_BREAKS.sub("\n", block), general_defects)
    defects: list[str] = []
    assert _raw_headers(raw, defects) == general
    assert defects == general_defects


def test_a_line_of_many_colons_before_an_odd_line_is_read_at_once():
    """A line of colons without spaces (a DKIM signature's ``h=from:to:cc:...``, a subject)
    and, later, a line that is not a field or a form feed: matched as one pattern, the block's
    fields could be split at each colon, and a failed match tried every split (half a second at
    20 colons, doubling with each more). Read in a child process, so that a hang fails the test
    rather than the suite (the block is read in about a millisecond)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    colons = b":".join(b"h=from" for _ in range(60))
    cases = [
        b"DKIM-Signature: v=1; " + colons + b"\r\nBad line\r\nFrom: a@b.example\r\n",
        b"Subject: " + colons + b"\x0c\r\nFrom: a@b.example\r\n\r\nbody",
    ]
    code = (
        "import sys\nfrom primsync.parse import parse_headers\n"
        f"for raw in {cases!r}:\n"
        "    h = parse_headers(raw)\n"
        "    print(h.from_addr, h.subject.count(':'), list(h.defects))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        "a@b.example 0 ['headers: a line that is not a header', 'Message-ID: missing']",
        "a@b.example 59 ['Message-ID: missing']",
    ]


def test_the_usual_blocks_values_are_trimmed():
    defects: list[str] = []
    h = parse_headers(b"From: a@b.example \r\nSubject:  Hi there \t\r\nMessage-ID: <i@d> \r\n")
    assert (h.from_addr, h.subject, h.message_id) == ("a@b.example", "Hi there", "<i@d>")
    from primsync.parse import _raw_headers

    fields = _raw_headers(b"Subject:  Hi there \t\r\nX-Other: y\r\n", defects)
    assert fields == {"subject": "Hi there"} and defects == []
    fields = _raw_headers(b"Subject: " + b"x" * 100_001 + b" \r\nTo: a@b\r\nTo: c@d\r\n", defects)
    assert fields == {"subject": "x" * 100_000, "to": "a@b"}
    assert defects == ["Subject: header of 100001 characters cut"]

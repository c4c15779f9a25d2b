"""parse: header bytes → fields, on byte literals; it never raises."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from primsync.parse import (
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


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_arbitrary_bytes(raw):
    parse_headers(raw)


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
def test_never_raises_on_arbitrary_header_values(headers):
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    parse_headers(raw + b"\r\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_parse_message_never_raises(raw):
    from primsync.parse import parse_message

    parse_message(raw)
    parse_message(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" + raw)

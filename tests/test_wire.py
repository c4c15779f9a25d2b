"""The FETCH answer reader, fed bytes cut at every awkward place (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from primsync.wire import (
    FetchFailed,
    Reader,
    UnreadableFetch,
    internaldate,
    internaldate_seconds,
    read_fetch,
)

ANSWER = (
    b"* 3 EXISTS\r\n"
    b'* 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE " 1-Feb-2026 10:00:00 +0100" '
    b"RFC822.SIZE 12 BODY[HEADER.FIELDS (FROM)] {15}\r\nFrom: a@b.c\r\n\r\n)\r\n"
    # the body literal first, the attributes after it (Gmail's order)
    b"* 2 FETCH (BODY[] {5}\r\nHello UID 8 RFC822.SIZE 5 FLAGS ())\r\n"
    b"* 3 FETCH (FLAGS (\\Seen))\r\n"  # an unsolicited flag change: no UID
    b"* 4 FETCH (UID 9 FLAGS (\\Flagged))\r\n"  # no body item: not a message
    b'* 5 FETCH (UID 10 BODY[] "quoted \\"text\\"")\r\n'
    b"* 6 FETCH (UID 11 BODY[] NIL)\r\n"
    b"A7 OK Fetch completed.\r\n"
)


def chunks(data: bytes, size: int):
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return iter(parts + [b""]).__next__


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_answers_are_read_whatever_the_chunking(size):
    got = list(read_fetch(chunks(ANSWER, size), b"A7"))
    assert [(m.uid, m.data, m.flags, m.size) for m in got] == [
        (7, b"From: a@b.c\r\n\r\n", ("\\Seen",), 12),
        (8, b"Hello", (), 5),
        (10, b'quoted "text"', (), 19 - 6),
        (11, b"", (), 0),
    ]
    assert got[0].internaldate == datetime(2026, 2, 1, 9, tzinfo=UTC)
    assert got[1].internaldate is None


def test_a_reader_keeps_the_bytes_of_the_next_answer():
    two = ANSWER + b"* 1 FETCH (UID 12 BODY[] {2}\r\nok)\r\nA8 OK done\r\n"
    reader = Reader(chunks(two, 1 << 20))
    assert len(list(reader.answer(b"A7"))) == 4
    assert [m.uid for m in reader.answer(b"A8")] == [12]


def test_large_literals_are_read_whole():
    body = bytes(range(256)) * 40_000  # 10 MB
    data = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n%s)\r\nA1 OK\r\n" % (len(body), body)
    (message,) = read_fetch(chunks(data, 65536), b"A1")
    assert message.data == body and message.size == len(body)


def test_no_and_eof_are_errors():
    with pytest.raises(FetchFailed, match="NO"):
        list(read_fetch(chunks(b"* 1 FETCH (UID 1 BODY[] {1}\r\nx)\r\nA1 NO gone\r\n", 5), b"A1"))
    with pytest.raises(ConnectionError):
        list(read_fetch(chunks(b"* 1 FETCH (UID 1 BODY[] {10}\r\nabc", 5), b"A1"))


def test_internaldate():
    assert internaldate(b"27-Nov-2026 12:00:00 +0100") == datetime(2026, 11, 27, 11, tzinfo=UTC)
    assert internaldate_seconds(b" 1-Jan-1970 00:00:00 +0000") == 0
    assert internaldate_seconds(b" 1-jan-1970 01:00:00 +0100") == 0
    # a day's start is kept per date and zone: the same day in other zones, clocks unpadded
    assert internaldate_seconds(b" 1-Jan-1970 00:00:00 -0130") == 5400
    assert internaldate_seconds(b" 1-Jan-1970 1:2:3 -0130") == 5400 + 3723
    assert internaldate_seconds(b"02-Jan-1970 23:59:60 +0000") == 86400 + 86400
    assert internaldate_seconds(b"1-Jan-1970 01:02:03 +0a00") is None
    for bad in (b"garbage", b"31-Feb-2026 10:00:00 +0000", b"1-Foo-2026 10:00:00 +0000", b""):
        assert internaldate(bad) is None
    assert internaldate(b" 1-Jan-0001 00:00:00 +0100") is None  # before year 1 in UTC


def test_the_usual_shape_with_more_after_the_literal():
    data = (
        b'* 1 FETCH (UID 3 FLAGS () INTERNALDATE " 1-Feb-2026 10:00:00 +0000" RFC822.SIZE 5 '
        b"BODY[] {5}\r\nHello MODSEQ (12))\r\n"
        b'* 2 FETCH (UID 4 FLAGS () INTERNALDATE " 1-Feb-2026 10:00:00 +0000" RFC822.SIZE 9 '
        b"BODY[] {2}\r\nHi BODY[HEADER] {3}\r\nabc)\r\nA1 OK\r\n"
    )
    got = list(read_fetch(chunks(data, 10), b"A1"))
    assert [(m.uid, m.data, m.size) for m in got] == [(3, b"Hello", 5), (4, b"Hi", 9)]


def test_a_broken_line_does_not_swallow_the_next_answer():
    data = (
        b'* 1 FETCH (UID 5 FLAGS (\\Seen INTERNALDATE " 1-Feb-2026 10:00:00 +0000" '
        b"RFC822.SIZE 2 BODY[] {2}\r\nab)\r\n"
        b'* 2 FETCH (UID 6 FLAGS () INTERNALDATE " 1-Feb-2026 10:00:00 +0000" RFC822.SIZE 2 '
        b"BODY[] {2}\r\ncd)\r\nA1 OK\r\n"
    )
    got = []
    with pytest.raises(UnreadableFetch) as err:
        for message in read_fetch(chunks(data, 1 << 20), b"A1"):
            got.append(message)
    # the next answer is read, and the broken one is named (not guessed at) once the answer
    # is over: the connection is in step, and imap.py asks imapclient for that message
    assert [(m.uid, m.data) for m in got] == [(6, b"cd")]
    assert err.value.heads == [data.split(b"{2}")[0]]


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 13, 64, 4096])
def test_an_answer_is_read_up_to_its_tagged_line_in_any_chunking(size):
    """The reader never takes bytes past its tagged line (the next command's answer belongs
    to imaplib), wherever the chunks cut it; a tag's text inside a message is data."""
    body = b"Subject: x\r\n\r\nsee below\r\nT7 OK not the end\r\n"  # the tag's text, in a body
    answer = (
        b'* 1 FETCH (UID 4 FLAGS () INTERNALDATE "01-Feb-2026 10:00:00 +0100" RFC822.SIZE 9 '
        b"BODY[] {%d}\r\n%s)\r\n" % (len(body), body)
        + b'* 2 FETCH (UID 5 FLAGS () INTERNALDATE "01-Feb-2026 10:00:00 +0100" RFC822.SIZE 2 '
        b"BODY[] {2}\r\nok)\r\nT7 OK Fetch completed.\r\n"
    )
    chunks = _chunked(answer, size)
    after = [b"* 3 EXISTS\r\n", b"T8 OK next\r\n"]  # what the next command would get
    source = iter(chunks + after)
    reader = Reader(lambda: next(source))
    got = list(reader.answer(b"T7"))
    assert [(m.uid, m.data) for m in got] == [(4, body), (5, b"ok")]
    assert next(source) == after[0]  # nothing of the next answer was taken


def test_a_read_error_or_an_early_end_reaches_the_caller():
    def read1():
        raise TimeoutError("timed out")

    with pytest.raises(TimeoutError):
        list(Reader(read1).answer(b"A1"))
    ended = iter([b"* 1 FETCH (UID 4 BODY[] {5}\r\nHel"])
    with pytest.raises(ConnectionError, match="closed the connection"):
        list(Reader(lambda: next(ended, b"")).answer(b"A1"))

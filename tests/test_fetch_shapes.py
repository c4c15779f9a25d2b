"""FETCH answers shaped as other IMAP clients' public test suites record them for real servers
(Gmail, Exchange/Outlook, Yahoo, Yandex, Zoho, Cyrus, Dovecot; the bytes are written here),
read by primsync.wire and compared with imapclient's own parser on the same bytes."""

from __future__ import annotations

import re

import pytest
from imapclient.response_parser import parse_fetch_response

from primsync.wire import read_fetch

DATE = b'"17-Jul-2026 02:44:25 -0700"'
HDR = b"From: Lea <lea@mail.example>\r\nSubject: Re: Interview\r\n\r\n"
FIELDS = b"BODY[HEADER.FIELDS (FROM SUBJECT)]"


def lit(data: bytes) -> bytes:
    return b"{%d}\r\n%s" % (len(data), data)


SHAPES = {
    "dovecot": b"* 1 FETCH (UID 7 FLAGS (\\Seen) INTERNALDATE "
    + DATE
    + b" RFC822.SIZE 2140 "
    + FIELDS
    + b" "
    + lit(HDR)
    + b")\r\n",
    # Gmail: UID last, its own items, MODSEQ; labels quoted, one of them a literal
    "gmail": b"* 2 FETCH (X-GM-THRID 1781234567890123456 X-GM-MSGID 1781234567890123457 "
    b'X-GM-LABELS ("\\\\Important" ' + lit(b"Clients (2026)") + b' "UID 5") FLAGS (\\Seen) '
    b"INTERNALDATE "
    + DATE
    + b" RFC822.SIZE 2141 "
    + FIELDS
    + b" "
    + lit(HDR)
    + b" UID 42 MODSEQ (987654))\r\n",
    # Exchange / Outlook: UID first, then size, flags and date in its own order
    "exchange": b"* 3 FETCH (UID 43 RFC822.SIZE 2142 FLAGS (\\Seen \\Answered) INTERNALDATE "
    + DATE
    + b" "
    + FIELDS
    + b" "
    + lit(HDR)
    + b")\r\n",
    # Cyrus: FLAGS before UID, EXISTS and RECENT in the middle of the answer
    "cyrus": b"* 4 EXISTS\r\n* 1 RECENT\r\n* 4 FETCH (FLAGS () UID 44 INTERNALDATE "
    + DATE
    + b" RFC822.SIZE 2143 "
    + FIELDS
    + b" "
    + lit(HDR)
    + b")\r\n",
    # Yahoo: the header names of the section quoted
    "yahoo": b"* 5 FETCH (UID 45 RFC822.SIZE 2144 INTERNALDATE " + DATE + b" FLAGS () "
    b'BODY[HEADER.FIELDS ("FROM" "SUBJECT")] ' + lit(HDR) + b")\r\n",
    # lower-case item names and command name (legal: IMAP atoms are case-insensitive)
    "lower-case": b"* 6 fetch (uid 46 flags (\\Seen) internaldate "
    + DATE
    + b" rfc822.size 2145 body[header.fields (from subject)] "
    + lit(HDR)
    + b")\r\n",
    # Zoho / partial: an origin after the section
    "partial": b"* 7 FETCH (UID 47 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 2146 "
    b"BODY[]<0> " + lit(HDR) + b")\r\n",
    # the body as a quoted string, and as NIL
    "quoted": b"* 8 FETCH (UID 48 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 11 "
    b'BODY[] "a \\"quoted\\" b")\r\n',
    "nil": b"* 9 FETCH (UID 49 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 0 BODY[] NIL)\r\n",
    # a keyword list and a string holding "UID <n>" before the real UID
    "uid-in-text": b'* 10 FETCH (FLAGS ($Forwarded UID) X-GM-LABELS (UID 5 "UID 6") '
    b"INTERNALDATE " + DATE + b" RFC822.SIZE 2147 " + FIELDS + b" " + lit(HDR) + b" UID 50)\r\n",
    # one message's items in two FETCH responses (RFC 3501 7.4.2), UID in both
    "split": b"* 11 FETCH (UID 51 " + FIELDS + b" " + lit(HDR) + b")\r\n* 11 FETCH (UID 51 "
    b"FLAGS (\\Seen) INTERNALDATE " + DATE + b" RFC822.SIZE 2148)\r\n",
    # ... and the first piece without a UID (an unsolicited flag change, then the answer)
    "split-flags-first": b"* 12 FETCH (FLAGS (\\Flagged))\r\n* 12 FETCH (UID 52 INTERNALDATE "
    + DATE
    + b" RFC822.SIZE 2149 "
    + FIELDS
    + b" "
    + lit(HDR)
    + b")\r\n",
    # unsolicited EXPUNGE and FETCH (another message's flags) in the middle of the answer
    "unsolicited": b"* 30 EXPUNGE\r\n* 31 FETCH (FLAGS (\\Deleted))\r\n* 13 FETCH (UID 53 "
    b"FLAGS () INTERNALDATE "
    + DATE
    + b" RFC822.SIZE 2150 MODSEQ (12) "
    + FIELDS
    + b" "
    + lit(HDR)
    + b")\r\n",
}


def imaplib_data(answer: bytes) -> list:
    """The answer as imaplib hands it to imapclient: each FETCH response's text after "* ",
    with (text, literal) pairs where literals come."""
    data: list = []
    lines = answer.split(b"\r\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        head = re.match(rb"\* (\d+) fetch (.*)", line, re.IGNORECASE)
        if head is None:
            continue
        text = head.group(1) + b" " + head.group(2)
        while (size := re.search(rb"\{(\d+)\}$", text)) is not None:
            rest = b"\r\n".join(lines[i:])
            literal, after = rest[: int(size.group(1))], rest[int(size.group(1)) :]
            data.append((text, literal))
            lines = after.split(b"\r\n")
            i = 1
            text = lines[0]
        data.append(text)
    return data


def ours(answer: bytes) -> dict[int, tuple]:
    got = read_fetch(iter([answer + b"A1 OK done\r\n", b""]).__next__, b"A1")
    return {m.uid: (m.data, m.flags, m.received, m.size) for m in got}


def theirs(answer: bytes) -> dict[int, tuple]:
    parsed = parse_fetch_response(imaplib_data(answer), normalise_times=False, uid_is_key=False)
    out = {}
    for items in parsed.values():  # keyed by sequence number: the pieces of a message merged
        body = next((v for k, v in items.items() if k.upper().startswith(b"BODY[")), None)
        if b"UID" not in items or (body is None and not any(
            k.upper().startswith(b"BODY[") for k in items
        )):  # fmt: skip
            continue
        when = items.get(b"INTERNALDATE")
        out[items[b"UID"]] = (
            body or b"",
            tuple(f.decode() for f in items.get(b"FLAGS", ())),
            int(when.timestamp()) if when is not None else None,
            items.get(b"RFC822.SIZE"),
        )
    return out


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_reads_as_imapclient_reads_it(shape):
    answer = SHAPES[shape]
    mine, reference = ours(answer), theirs(answer)
    assert mine == reference
    assert len(mine) == 1  # one message in each shape, never lost


def test_all_shapes_in_one_answer_in_any_chunking():
    answer = b"".join(SHAPES.values())
    whole = ours(answer)
    assert whole == theirs(answer)
    assert sorted(whole) == [7, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53]
    assert whole[51][1:] == (("\\Seen",), 1784281465, 2148)  # put together from two pieces
    assert whole[52][1] == ("\\Flagged",)  # the flags of the first piece are kept
    assert whole[50][0] == HDR and whole[42][3] == 2141
    for size in (1, 2, 5, 13, 64):
        chunks = [answer[i : i + size] for i in range(0, len(answer), size)]
        got = read_fetch(iter([*chunks, b"A1 OK done\r\n", b""]).__next__, b"A1")
        assert {m.uid: (m.data, m.flags, m.received, m.size) for m in got} == whole


# Answers MailKit's tests record for servers neither imapclient's parser nor, until now, ours
# read (jstedfast/MailKit, UnitTests/Net/Imap/Resources; the bytes written here, in the shape
# of the items primsync asks for). What MailKit's tests expect of each is asserted beside.

# Domino (domino/fetch-extra-parens.txt): the items after UID inside a second pair of
# parentheses; MailKit reads every UID of the answer (14934 to 14962)
DOMINO = b"".join(
    b"* %d FETCH (UID %d (FLAGS (\\Seen) INTERNALDATE %s RFC822.SIZE 2140 %s %s))\r\n"
    % (seq, 14933 + seq, DATE, FIELDS, lit(HDR))
    for seq in (2, 4, 3, 1, 6, 5)
)
# Yandex (yandex/getbodypart-missing-content.txt): a body section with no value at all before
# the closing parenthesis; MailKit reads the message, its missing part empty
YANDEX = (
    b"* 1 FETCH (UID 3016 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 145 "
    b"BODY[HEADER.FIELDS (FROM SUBJECT)] )\r\n"
)
# Gmail (common/fetch-annotations.txt): ANNOTATION items (RFC 5257) in a FETCH response, one
# of them unsolicited before the message's own answer
ANNOTATIONS = (
    b'* 1 FETCH (UID 1 ANNOTATION (/comment (value.priv "My comment" value.shared NIL)))\r\n'
    b"* 1 FETCH (UID 1 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 2140 ANNOTATION "
    b'(/comment (value.priv "My comment" value.shared NIL size.priv "10" size.shared "0")) '
    + FIELDS + b" " + lit(HDR) + b")\r\n"
)
# a server echoing the PEEK of the command back (php-imap guards against it)
PEEK_ECHO = (
    b"* 1 FETCH (UID 61 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 2140 "
    b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] " + lit(HDR) + b")\r\n"
)


def test_domino_extra_parentheses_are_read():
    got = ours(DOMINO)
    assert sorted(got) == [14934, 14935, 14936, 14937, 14938, 14939]  # as MailKit reads them
    assert all(v == (HDR, ("\\Seen",), 1784281465, 2140) for v in got.values())


def test_yandex_section_without_a_value_is_an_empty_part():
    assert ours(YANDEX) == {3016: (b"", (), 1784281465, 145)}


def test_gmail_annotations_do_not_hide_the_message():
    assert ours(ANNOTATIONS) == {1: (HDR, (), 1784281465, 2140)}


def test_an_echoed_body_peek_is_read_as_body():
    assert ours(PEEK_ECHO) == {61: (HDR, (), 1784281465, 2140)}


def test_the_new_shapes_in_one_answer_in_any_chunking():
    answer = DOMINO + YANDEX + PEEK_ECHO
    whole = ours(answer)
    assert len(whole) == 8
    for size in (1, 3, 7, 64):
        chunks = [answer[i : i + size] for i in range(0, len(answer), size)]
        got = read_fetch(iter([*chunks, b"A1 OK done\r\n", b""]).__next__, b"A1")
        assert {m.uid: (m.data, m.flags, m.received, m.size) for m in got} == whole


# later FETCH responses with new FLAGS for a message already read in the same answer
FLAG_UPDATES = {
    # Gmail: the flags change while the answer is sent
    "gmail": b"* 1 FETCH (UID 71 FLAGS () INTERNALDATE " + DATE + b" RFC822.SIZE 2140 "
    + FIELDS + b" " + lit(HDR) + b")\r\n* 1 FETCH (FLAGS (\\Seen))\r\n",
    # ProtonMail Bridge: the update repeats the UID
    "protonmail-bridge": b"* 1 FETCH (UID 71 FLAGS () INTERNALDATE " + DATE
    + b" RFC822.SIZE 2140 " + FIELDS + b" " + lit(HDR) + b")\r\n"
    b"* 1 FETCH (UID 71 FLAGS (\\Seen \\Flagged))\r\n* 1 FETCH (UID 71 FLAGS (\\Seen))\r\n",
    # CONDSTORE (RFC 7162): MODSEQ with the new flags
    "condstore": b"* 1 FETCH (UID 71 FLAGS (\\Seen) MODSEQ (12) INTERNALDATE " + DATE
    + b" RFC822.SIZE 2140 " + FIELDS + b" " + lit(HDR) + b")\r\n"
    b"* 1 FETCH (MODSEQ (13) FLAGS ())\r\n",
}


@pytest.mark.parametrize("shape", list(FLAG_UPDATES))
def test_later_flags_of_a_message_read_are_kept_newest_last(shape):
    got = list(read_fetch(iter([FLAG_UPDATES[shape] + b"A1 OK done\r\n", b""]).__next__, b"A1"))
    messages = [m for m in got if not m.update]
    assert [(m.uid, m.data) for m in messages] == [(71, HDR)]  # one message, never two
    newest = {"gmail": ("\\Seen",), "protonmail-bridge": ("\\Seen",), "condstore": ()}[shape]
    assert [m.flags for m in got if m.update][-1] == newest


def test_the_review_frame_takes_the_newest_flags():
    from primsync.frame import SEEN, FetchedFolder, build_frame

    got = read_fetch(iter([FLAG_UPDATES["gmail"] + b"A1 OK done\r\n", b""]).__next__, b"A1")
    frame = build_frame([FetchedFolder("INBOX", 1, False, got)])
    assert list(frame[SEEN]) == [True] and len(frame) == 1


def test_gmail_keywords_with_brackets_and_spaces_are_kept_whole():
    flags = b'(\\Seen "Old Label" [Gmail]/Important $Label1)'
    usual = (b"* 1 FETCH (UID 81 FLAGS " + flags + b" INTERNALDATE " + DATE
             + b" RFC822.SIZE 2140 " + FIELDS + b" " + lit(HDR) + b")\r\n")  # fmt: skip
    other_order = (b"* 2 FETCH (FLAGS " + flags + b" UID 82 INTERNALDATE " + DATE
                   + b" RFC822.SIZE 2140 " + FIELDS + b" " + lit(HDR) + b")\r\n")  # fmt: skip
    got = ours(usual + other_order)
    whole = ("\\Seen", "Old Label", "[Gmail]/Important", "$Label1")
    assert got[81][1] == whole and got[82][1] == whole


@pytest.mark.parametrize("shape", ["domino", "yandex"])
def test_a_review_and_an_import_through_a_server_of_that_shape(db, mailbox, shape):
    """The tests' proxy serves Dovecot's answers in Domino's or Yandex's shape: the review
    shows the same rows as straight from Dovecot, and the import stores every message."""
    from primsync.commit import import_selected
    from primsync.demo import DEMO_ACCOUNT
    from primsync.imap import connect
    from primsync.review import review_mailbox
    from primsync.selection import choose_rows
    from tests.conftest import PASSWORD
    from tests.mailbox import FOLDERS
    from tests.proxy import FaultyProxy
    from tests.test_imap import settings

    def rows(result):
        return result.all_rows.drop(columns=["defects"]).astype(str).to_dict("records")

    straight = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD,
                              record=False)  # fmt: skip
    proxy = FaultyProxy(mailbox.port)
    proxy.reshape(shape)
    try:
        with connect(settings(mailbox, port=proxy.port), PASSWORD) as box:
            shaped = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", mailbox=box,
                                    record=False)  # fmt: skip
            assert rows(shaped) == rows(straight) and rows(straight)
            assert all(scan.gone == [] for scan in shaped.scans)  # every UID read
            chosen = choose_rows(shaped.frame, select="all")
            summary = import_selected(db, shaped, chosen, user="ana", accessible_to="Public",
                                      mailbox=box)  # fmt: skip
    finally:
        proxy.close()
    # every message stored once on its record (a copy in a second folder is skipped as such)
    distinct = len(chosen[["record_id", "dedupe_key"]].drop_duplicates())
    assert summary.imported == distinct > 0
    assert set(summary.rows["outcome"]) <= {"imported", "skipped"}

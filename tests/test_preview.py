"""Showing imported mail safely, and saving attachments only on request (primsync.preview)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest

from primsync.commit import import_selected
from primsync.db.access import message_attachments, visible_messages
from primsync.errors import ConfigurationError, PermissionDenied
from primsync.opening import read_message
from primsync.preview import (
    AttachmentInfo,
    clean_html,
    message_preview,
    render_message,
    safe_filename,
    save_attachment,
)
from primsync.review import review_mailbox
from primsync.selection import choose_rows
from tests.conftest import HOSTILE_ACCOUNT, USERS
from tests.hostile_mail import ACTIVE, EVIL_CONTENT, EVIL_NAME, HOSTILE_HTML, SUBJECT


def assert_inert(shown: str) -> None:
    lowered = shown.lower()
    for needle in ACTIVE:
        assert needle.lower() not in lowered, needle


def test_clean_html_keeps_text_and_safe_links_only():
    cleaned = clean_html(HOSTILE_HTML)
    assert_inert(cleaned)
    assert cleaned == (
        "<p>Please see my <b>portfolio</b>.</p>"
        '<a target="_blank" rel="noopener noreferrer nofollow">click me</a> '
        '<a href="https://portfolio.example/sofia" target="_blank" '
        'rel="noopener noreferrer nofollow">my site</a>'
    )
    assert clean_html('<a href="/lab/api/x">rel</a><a href="data:text/html,x">d</a>') == (
        '<a target="_blank" rel="noopener noreferrer nofollow">rel</a>'
        '<a target="_blank" rel="noopener noreferrer nofollow">d</a>'
    )
    assert clean_html('<svg onload="alert(1)"><a xlink:href="javascript:x">s</a></svg>') == ""


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../evil.sh", "evil.sh"),
        ("..\\..\\Windows\\evil.exe", "evil.exe"),
        ("/etc/passwd", "passwd"),
        (".bashrc", "bashrc"),
        ("CON.txt", "_CON.txt"),
        ("a<b>:c|d?.pdf", "abcd.pdf"),
        ("report\x00\n.pdf", "report.pdf"),
        ("..", "attachment"),
        ("", "attachment"),
        ("CV Sofia.pdf", "CV Sofia.pdf"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
    ],
)
def test_safe_filename(name, safe):
    assert safe_filename(name) == safe


def test_render_prefers_the_text_part_and_escapes_everything():
    shown = render_message(
        subject="<b>Hi</b>",
        sender="Eve <eve@x.example>",
        received=datetime(2026, 11, 2, 9, tzinfo=UTC),
        text="<script>alert(1)</script>",
        html_body=HOSTILE_HTML,
        attachments=[
            AttachmentInfo("<img src=x onerror=alert(1)>.pdf", "application/pdf", 2048, 7)
        ],
    )
    assert "&lt;b&gt;Hi&lt;/b&gt;" in shown and "Eve &lt;eve@x.example&gt;" in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown  # the text part, as text
    assert "portfolio" not in shown  # the HTML part is not used when there is text
    listed = "&lt;img src=x onerror=alert(1)&gt;.pdf (application/pdf, 2.0 KB) — attachment id 7"
    assert listed in shown
    assert "<img" not in shown and "2026-11-02 09:00" in shown
    empty = render_message(subject="", sender="", received=None, text=" ", html_body="")
    assert "(no subject)" in empty and "(no text)" in empty


@pytest.fixture
def imported(hostile_db):
    review = review_mailbox(
        hostile_db, HOSTILE_ACCOUNT, ["INBOX"], option="all", secret=USERS["hostile"]
    )
    assert list(review.frame["subject"]) == [SUBJECT]
    summary = import_selected(
        hostile_db,
        review,
        choose_rows(review.frame, select="all"),
        user="ana",
        accessible_to="Recruiters",
        secret=USERS["hostile"],
    )
    assert summary.imported == 1
    (message_id,) = visible_messages(hostile_db, "ana")["id"]
    return hostile_db, int(message_id)


def test_a_stored_hostile_message_is_shown_inert(imported):
    engine, message_id = imported
    shown = message_preview(engine, "ana", message_id)
    assert_inert(shown)
    assert "Please see my <b>portfolio</b>." in shown
    assert "Portfolio &lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in shown
    assert "../../evil.sh (application/x-sh, 21 bytes)" in shown
    with pytest.raises(PermissionDenied, match="paul may see"):
        message_preview(engine, "paul", message_id)  # Public: below Recruiters


def test_attachments_are_saved_only_on_request_inside_the_folder(imported, tmp_path):
    engine, message_id = imported
    (evil,) = message_attachments(engine, "ana", message_id)
    assert evil.filename == EVIL_NAME
    target = tmp_path / "deep" / "attachments"
    assert not target.exists()  # nothing written by showing the message
    first = save_attachment(engine, "ana", evil.id, target)
    second = save_attachment(engine, "ana", evil.id, target)
    assert (first, second) == (target / "evil.sh", target / "evil (1).sh")
    assert first.read_bytes() == EVIL_CONTENT == second.read_bytes()
    mode = first.stat().st_mode
    assert stat.S_ISREG(mode) and not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    outside = tmp_path / "deep"
    assert sorted(str(p.relative_to(outside)) for p in outside.rglob("*") if p.is_file()) == [
        "attachments/evil (1).sh",
        "attachments/evil.sh",
    ]
    assert not (tmp_path.parent / "evil.sh").exists()
    with pytest.raises(PermissionDenied):
        save_attachment(engine, "paul", evil.id, target)
    with pytest.raises(ConfigurationError, match="is not a folder"):
        save_attachment(engine, "ana", evil.id, first)


def test_read_message_fetches_one_message_without_marking_it(hostile_db):
    body = read_message(hostile_db, HOSTILE_ACCOUNT, "INBOX", 1, secret=USERS["hostile"])
    assert body.text == "" and "<script>" in body.html  # raw: rendering is what cleans it
    assert [(p.filename, p.content) for p in body.parts] == [(EVIL_NAME, EVIL_CONTENT)]
    with pytest.raises(Exception, match="no longer in the folder"):
        read_message(hostile_db, HOSTILE_ACCOUNT, "INBOX", 99, secret=USERS["hostile"])

"""A message written to attack whoever displays it: what every preview must render inert."""

from __future__ import annotations

from email.message import EmailMessage

REMOTE_IMAGE = "http://198.51.100.7/pixel.gif"  # TEST-NET-2: a request to it leaves loopback
EVIL_NAME = "../../evil.sh"
EVIL_CONTENT = b"#!/bin/sh\necho pwned\n"
HOSTILE_HTML = (
    "<p>Please see my <b>portfolio</b>.</p>"
    "<script>alert('script')</script>"
    f'<img src="{REMOTE_IMAGE}" onerror="alert(\'onerror\')" width="1" height="1">'
    "<a href=\"javascript:alert('link')\">click me</a> "
    '<a href="https://portfolio.example/sofia">my site</a>'
    "<style>body { background: url(http://198.51.100.7/bg.png) }</style>"
)
SUBJECT = "Portfolio <script>alert('subject')</script>"


def _message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sofia Rossi <sofia@rossi.example>"
    msg["To"] = "Hostile Test <hostile@agency.example>"
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = "<hostile.1@rossi.example>"
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
    msg.set_content(HOSTILE_HTML, subtype="html")  # an HTML part and no text part
    msg.add_attachment(EVIL_CONTENT, maintype="application", subtype="x-sh", filename=EVIL_NAME)
    return msg.as_bytes()


HOSTILE_MESSAGE = _message()

# what must not appear, active, in anything that shows the message
ACTIVE = ["<script", "onerror", "javascript:", "<img", REMOTE_IMAGE, "<style", "198.51.100.7"]

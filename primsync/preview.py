"""Showing a message's content safely, and saving an attachment only when asked.

Mail comes from strangers. What a notebook or app shows of a message is its text part, or, when
it has none, its HTML part cleaned by `nh3 <https://nh3.readthedocs.io>`_ (the Rust sanitizer
ammonia): no script, no event handler, no style, no image (a remote image is a tracking pixel),
no link whose scheme runs code (only http, https and mailto are kept, opened in a new tab without
a referrer). Every header value and attachment name is HTML-escaped. An attachment is written
to disk only by :func:`save_attachment`, under :func:`safe_filename` inside the chosen folder,
as a plain file (no execute bit) that never replaces another.

>>> safe_filename("../../evil.sh")
'evil.sh'
>>> clean_html('<p onclick="x()">Hi<script>alert(1)</script><img src="http://t.example/p.gif"></p>')
'<p>Hi</p>'
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nh3
import pandas as pd
from sqlalchemy import Engine

from primsync.db import access
from primsync.errors import ConfigurationError, PermissionDenied

__all__ = [
    "AttachmentInfo",
    "clean_html",
    "message_preview",
    "render_message",
    "safe_filename",
    "save_attachment",
]

# nothing that loads a resource (img, map/area, media are not in nh3's defaults either)
_TAGS = set(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items() if tag in _TAGS}
_SCHEMES = {"http", "https", "mailto"}


def clean_html(text: str) -> str:
    """``text`` (an HTML part from a sender) with only inert markup left."""
    return nh3.clean(
        text,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        clean_content_tags={"script", "style", "title"},
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_relative="deny",
    )


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """What a preview lists of an attachment (never its content)."""

    filename: str
    content_type: str
    size: int
    id: int | None = None


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


def render_message(
    *,
    subject: str,
    sender: str,
    received: datetime | None,
    text: str,
    html_body: str,
    attachments: Iterable[AttachmentInfo] = (),
) -> str:
    """One message as safe HTML: escaped headers, the text part (else the cleaned HTML part),
    and the attachments' escaped names."""
    when = "" if received is None or pd.isna(received) else f" — {received:%Y-%m-%d %H:%M}"
    parts = [
        '<div class="primsync-message" style="border:1px solid #ddd;padding:8px">',
        f"<div><b>{html.escape(subject or '(no subject)')}</b></div>",
        f"<div>From {html.escape(sender or '')}{html.escape(when)}</div><hr>",
    ]
    if text.strip():
        parts.append(f'<pre style="white-space:pre-wrap">{html.escape(text)}</pre>')
    elif html_body.strip():
        parts.append(f'<div class="primsync-html">{clean_html(html_body)}</div>')
    else:
        parts.append("<div><i>(no text)</i></div>")
    listed = [
        f"<li>{html.escape(a.filename)} ({html.escape(a.content_type)}, {_size(a.size)})"
        + (f" — attachment id {a.id}" if a.id is not None else "")
        + "</li>"
        for a in attachments
    ]
    if listed:
        parts.append(f"<div>Attachments (saved only on request):<ul>{''.join(listed)}</ul></div>")
    parts.append("</div>")
    return "".join(parts)


def message_preview(engine: Engine, user: str, message_id: int) -> str:
    """The stored message ``message_id`` as safe HTML, if ``user`` may see it."""
    message = access.get_message(engine, user, message_id)
    if message is None:
        raise PermissionDenied(f"there is no imported message {message_id} that {user} may see")
    files = access.message_attachments(engine, user, message_id)
    sender = message["from_name"] or message["from_addr"] or ""
    if message["from_name"] and message["from_addr"]:
        sender = f"{message['from_name']} <{message['from_addr']}>"
    return render_message(
        subject=message["subject"] or "",
        sender=sender,
        received=message["received_at"],
        text=message["body_text"] or "",
        html_body=message["body_html"] or "",
        attachments=[AttachmentInfo(a.filename, a.content_type, a.size, a.id) for a in files],
    )


_RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
_FORBIDDEN = set('<>:"|?*')


def safe_filename(name: str, *, default: str = "attachment") -> str:
    """A file name that stays inside its folder on any system: the last path component only,
    no control or reserved characters, no leading dot, no device name, at most 150 characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in _FORBIDDEN)
    name = name.strip(" .")
    if _RESERVED.match(name):
        name = "_" + name
    if len(name) > 150:
        stem, dot, suffix = name.rpartition(".")
        keep = f".{suffix}" if dot and len(suffix) <= 10 else ""
        name = name[: 150 - len(keep)] + keep
    return name or default


def _free_path(folder: Path, name: str) -> Path:
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    candidate, n = folder / name, 1
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / (f"{stem} ({n}).{suffix}" if suffix else f"{stem} ({n})")
        n += 1
    return candidate


def save_attachment(engine: Engine, user: str, attachment_id: int, folder: str | Path) -> Path:
    """Write attachment ``attachment_id`` (if ``user`` may see it) into ``folder`` under a safe
    name, as a new plain file readable by its owner only; returns the path written."""
    found = access.get_attachment(engine, user, attachment_id)
    if found is None:
        raise PermissionDenied(f"there is no attachment {attachment_id} that {user} may see")
    where = Path(folder).expanduser()
    if where.exists() and not where.is_dir():
        raise ConfigurationError(f"{where} is not a folder")
    where.mkdir(parents=True, exist_ok=True)
    where = where.resolve()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    while True:
        target = _free_path(where, safe_filename(found.filename))
        if target.parent != where:  # safe_filename makes this impossible; never write outside
            raise ConfigurationError(f"refusing to write outside {where}")
        try:
            fd = os.open(target, flags, 0o600)
        except FileExistsError:  # taken between the check and the open: try the next name
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(found.content)
        return target

"""Replies whose ids were lost or rewritten: learned ids, and the fallback match with a confidence.

Green means a References or In-Reply-To id names a CRM message. That link breaks in real mail:
Exchange and some relays give the CRM's mail a new Message-ID (the reply names an id the CRM
never stored), phones reply without reference headers, people type "Re:" into a new mail or
forward. Two remedies, both pure functions over DataFrames (the review wires them to the
database):

* :func:`learn_copies` links the copies of CRM mail in the account's sent folder to their
  ``crm_message``: by the same id, or, when the id was rewritten, by the same recipient record,
  the same subject and a send time within ``COPY_WINDOW`` of ``crm_message.sent_at``. The
  copy's id is then a CRM id like any other (green), and its recipients and Outlook
  ``Thread-Index`` are kept as evidence for the fallback.
* :func:`probable_replies` gives a yellow received row the CRM message it most likely answers:
  the same Outlook thread (``Thread-Index``), or the same subject once reply and forward
  prefixes of common languages and list tags are taken off, from a recipient of that CRM
  message (or an address of its record), received after it within ``REPLY_WINDOW``; without a
  prefix only within ``PLAIN_WINDOW``, and from any other sender only with a prefix within
  ``LATE`` and below the default threshold (``STRANGER``). Such a row becomes a *probable
  reply* with a confidence and its evidence in words; it is pre-ticked only from
  ``DEFAULT_THRESHOLD`` on (the user can change it). Measured on synthetic cases and on real
  mailing-list threads: ``benchmarks/replies.py``.

>>> thread_subject("RE: AW: [jobs-list] Re[2]: Interview  on Monday")
('interview on monday', ['RE:', 'AW:', 'Re[2]:'])
>>> thread_subject("Réf : TR: Entretien prévu")
('entretien prévu', ['Réf :', 'TR:'])
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from primsync import frame as F
from primsync.parse import normalize_message_id

__all__ = [
    "COPY_WINDOW",
    "DEFAULT_THRESHOLD",
    "REPLY_WINDOW",
    "apply_threshold",
    "learn_copies",
    "probable_replies",
    "subject_core",
    "thread_key",
    "thread_subject",
]

COPY_WINDOW = timedelta(minutes=10)  # a Sent copy's Date against crm_message.sent_at
REPLY_WINDOW = timedelta(days=30)  # a probable reply comes within this after the CRM message
LATE = timedelta(days=14)  # after this, a little less sure
SOON = timedelta(days=2)  # within this, a little surer
PLAIN_WINDOW = timedelta(days=7)  # a reply without "Re:" (same subject) counts only this soon
# a "Re:" on the subject from a known contact the CRM message neither went to nor is about:
# shown as probable below the default threshold (a colleague forwarded it, a list replied)
STRANGER = -0.3
DEFAULT_THRESHOLD = 0.8  # probable replies at or above it are pre-ticked
PROBABLE = "probable"  # the context of a probable reply

# reply and forward prefixes: English, French, German, Dutch, Scandinavian, Finnish, Italian,
# Spanish, Portuguese, Polish, Czech, Turkish, Greek, Russian, Chinese, Japanese, Hebrew...
_REPLY = (
    "re|aw|antw|antwort|sv|vs|svar|r|rif|ref|réf|res|resp|odp|ynt|atb|vá|ha|απ|σχετ|отв|ответ|"
    "回复|答复|回覆|返信|תשובה"
)
_FORWARD = (
    "fw|fwd|tr|wg|vb|vl|vs|i|inoltro|enc|rv|reenviar|pd|doorst|ilt|İlt|továbbítás|πρθ|пересл|"
    "转发|轉寄|転送|הועבר"
)
_PREFIX = re.compile(
    rf"^\s*(?P<word>{_REPLY}|{_FORWARD})\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*",
    re.IGNORECASE,
)
_FORWARD_WORDS = frozenset(_FORWARD.casefold().split("|")) - {"vs"}  # vs: Finnish reply too
_TAG = re.compile(r"^\s*\[[^\]]{1,60}\]\s*")  # a mailing list's [tag]
_SPACE = re.compile(r"\s+")


def thread_subject(subject: str | None) -> tuple[str, list[str]]:
    """The subject without its reply/forward prefixes and list tags (case-folded, spaces
    collapsed), and the prefixes taken off, outermost first."""
    core, prefixes = _thread_parts(subject or "")
    return core, list(prefixes)


def subject_core(subject: str | None) -> str:
    """:func:`thread_subject`'s first part alone (what subjects are compared by)."""
    return _thread_parts(subject or "")[0]


@lru_cache(maxsize=65536)  # a review asks it of each subject two or three times
def _thread_parts(text: str) -> tuple[str, tuple[str, ...]]:
    prefixes: list[str] = []
    while True:
        tag = _TAG.match(text)
        if tag:
            text = text[tag.end() :]
            continue
        found = _PREFIX.match(text)
        if not found:
            break
        prefixes.append(found.group(0).strip())
        text = text[found.end() :]
    return _SPACE.sub(" ", text).strip().casefold(), tuple(prefixes)


def _is_forward(prefixes: list[str]) -> bool:
    first = re.split(r"[\s:：\[(^]", prefixes[0], maxsplit=1)[0].casefold() if prefixes else ""
    return first in _FORWARD_WORDS


def thread_key(thread_index: object) -> str | None:
    """Outlook's thread: the first 22 bytes of ``Thread-Index`` (a reply adds 5 bytes a
    step), as hex; None when absent or unreadable.

    >>> thread_key(base64.b64encode(bytes(range(22)) + b"12345").decode())
    '000102030405060708090a0b0c0d0e0f101112131415'
    """
    if not isinstance(thread_index, str) or not thread_index:
        return None  # absent (None, or a frame's NaN)
    try:
        raw = base64.b64decode("".join(thread_index.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw[:22].hex() if len(raw) >= 22 else None


def _recipients(row: dict) -> list[str]:
    return list(dict.fromkeys([*row[F.TO_ADDRS], *row[F.CC_ADDRS]]))


# what :func:`learn_copies` gives, a row per Sent copy linked to its CRM message
LEARNED_COLUMNS = [
    "crm_id",
    "message_id",
    "how",
    "recipients",
    "thread",
    "folder",
    "uid",
    "uidvalidity",
    "evidence",
]


def learn_copies(
    sent: pd.DataFrame, crm: pd.DataFrame, addresses: pd.DataFrame, known: Iterable[str] = ()
) -> pd.DataFrame:
    """Links from Sent copies to their CRM messages.

    ``sent``: review rows of a sent folder; ``crm``: crm_id, message_id, record_id, subject,
    sent_at of the CRM messages sent around their dates; ``addresses``: address, record_id of
    the records; ``known``: copy ids already learned (skipped). Returns one row per copy
    linked: crm_id, message_id (the copy's), how ("same id" / "rewritten"), recipients, thread,
    folder, uid, uidvalidity, evidence. A rewritten id is learned only when exactly one CRM
    message fits (same recipient record, same subject, sent within ``COPY_WINDOW``).
    """
    learned: list[tuple] = []
    if sent.empty or crm.empty:
        return pd.DataFrame(learned, columns=LEARNED_COLUMNS)
    skip = set(known)
    # the CRM keeps an id as its mailer wrote it; the review's ids are normalised (lower case)
    by_id = {
        normalize_message_id(m) or m: i
        for m, i in zip(crm["message_id"].tolist(), crm["crm_id"].tolist(), strict=True)
    }
    records_of: dict[str, set[int]] = {}
    for address, rid in zip(
        addresses["address"].tolist(), addresses["record_id"].tolist(), strict=True
    ):
        records_of.setdefault(address, set()).add(int(rid))
    crm_rows = crm.assign(_subject=[subject_core(s) for s in crm["subject"].tolist()])
    crm_rows["_sent"] = pd.to_datetime(crm_rows["sent_at"], utc=True)
    for row in sent.to_dict("records"):
        mid = row[F.MESSAGE_ID]
        if not mid or mid in skip:
            continue
        recipients = _recipients(row)
        thread = thread_key(row.get(F.THREAD_INDEX))
        place = (row[F.FOLDER], int(row[F.UID]), int(row[F.UIDVALIDITY]))
        if mid in by_id:
            learned.append(
                (
                    int(by_id[mid]),
                    mid,
                    "same id",
                    recipients,
                    thread,
                    *place,
                    f"the Sent copy keeps the CRM's id {mid}",
                )
            )
            continue
        when = row[F.RECEIVED]
        if when is None or pd.isna(when):
            continue
        subject = subject_core(row[F.SUBJECT])
        records = (
            set().union(*(records_of.get(a, set()) for a in recipients)) if recipients else set()
        )
        fits = crm_rows[
            (crm_rows["_subject"] == subject)
            & crm_rows["record_id"].isin(records)
            & ((crm_rows["_sent"] - when).abs() <= COPY_WINDOW)
        ]
        if len(fits) != 1:
            continue  # none, or several alike: not a link to guess
        hit = fits.iloc[0]
        minutes = abs((hit["_sent"] - when).total_seconds()) / 60
        learned.append(
            (
                int(hit["crm_id"]),
                mid,
                "rewritten",
                recipients,
                thread,
                *place,
                f"the server gave the CRM message {hit['message_id']} the id {mid}: "
                f"same recipient record, same subject, sent {minutes:.0f} min apart",
            )
        )
    return pd.DataFrame(learned, columns=LEARNED_COLUMNS)


@dataclass(frozen=True, slots=True)
class _Candidate:
    crm_id: int
    record_id: int
    record_name: str
    record_kind: str
    subject: str
    sent_at: pd.Timestamp
    thread_subject: str
    recipients: frozenset[str]
    threads: frozenset[str]
    excluded: bool


def _candidates(crm: pd.DataFrame, cores: set[str], keys: set[str]) -> list[_Candidate]:
    """The CRM messages some row could be compared with (its subject's core in ``cores``, or
    one of its Outlook threads in ``keys``) as candidates, read column by column (a dict a row
    cost 40 us), the sending times made UTC for the whole column at once (a Timestamp's own
    ``tz_localize`` cost about 8 us a candidate)."""
    n = len(crm)

    def column(name: str, default: object) -> list:
        return crm[name].tolist() if name in crm.columns else [default] * n

    sent = pd.to_datetime(crm["sent_at"], utc=True).tolist()  # naive: UTC; aware: converted
    out = []
    for crm_id, record_id, name, kind, subject, sent_at, who, threads, excluded in zip(
        *(crm[c].tolist() for c in ("crm_id", "record_id", "name", "kind", "subject")),
        sent,
        column("recipients", None),
        column("threads", None),
        column("excluded", False),
        strict=True,
    ):
        subject = subject if isinstance(subject, str) else ""  # None, or a string column's NaN
        core = subject_core(subject)
        if core not in cores and keys.isdisjoint(threads or ()):
            continue  # no row has its subject or its thread
        out.append(
            _Candidate(
                int(crm_id),
                int(record_id),
                name,
                kind,
                subject,
                sent_at,
                core,
                frozenset(who or ()),
                frozenset(threads or ()),
                bool(excluded),
            )
        )
    return out


def _day(when: pd.Timestamp) -> str:
    return f"{when.day} {when.strftime('%b %Y')}"


def _ago(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days < 1:
        hours = max(1, round(days * 24))
        return f"{hours} hour{'s' if hours != 1 else ''} earlier"
    whole = round(days)
    return f"{whole} day{'s' if whole != 1 else ''} earlier"


def _score(
    row: dict, cand: _Candidate, records_of: dict[str, set[int]]
) -> tuple[float, str] | None:
    """The confidence that ``row`` answers ``cand``, and why in words; None when it does not."""
    received = row[F.RECEIVED]
    if received is None or pd.isna(received):
        return None
    delta = received - cand.sent_at
    if delta <= timedelta(0) or delta > REPLY_WINDOW:
        return None
    sender = row[F.FROM_ADDR]
    when = f"the CRM message of {_day(cand.sent_at)}, {_ago(delta)}"
    stranger = False
    if sender and sender in cand.recipients:
        who, bonus = f"sender was a recipient of {when}", 0.0
    elif sender and cand.record_id in records_of.get(sender, ()):
        who, bonus = f"sender is on the record ({cand.record_name}) of {when}", -0.05
    else:
        stranger = True
        who, bonus = f"sender neither a recipient nor on the record of {when}", STRANGER
    thread = thread_key(row.get(F.THREAD_INDEX))
    if thread and thread in cand.threads:
        score = 0.9 if stranger else 0.97
        return score, f"the same Outlook thread (Thread-Index) as the CRM message's copy + {who}"
    core, prefixes = thread_subject(row[F.SUBJECT])
    if core != cand.thread_subject or not core:
        return None  # another subject
    if stranger and (not prefixes or delta > LATE):
        return None  # from someone else, only a "Re:" soon after is a hint
    if not prefixes and delta > PLAIN_WINDOW:
        return None  # the same subject without "Re:" long after: a new mail on that matter
    forward = _is_forward(prefixes)
    score = (
        0.9
        + bonus
        - (0.1 if not prefixes else 0.0)
        - (0.05 if forward else 0.0)
        + (0.05 if delta <= SOON else 0.0)
        - (0.1 if delta > LATE else 0.0)
    )
    named = row[F.REFERENCES] or row[F.IN_REPLY_TO]
    if named:
        score -= 0.15  # it names other ids: perhaps a reply in another thread of that subject
    plain = "" if prefixes else " (no reply prefix)"
    words = f"subject {row[F.SUBJECT]!r}{' (a forward)' if forward else ''}{plain} + {who}"
    if named:
        words += "; it names other message ids, none the CRM's"
    return round(min(score, 0.96), 2), words


def probable_replies(
    rows: pd.DataFrame,
    crm: pd.DataFrame,
    addresses: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """``rows`` (an enriched review frame) with yellow received rows that most likely answer a
    CRM message turned into probable replies: context ``probable``, record, annexed-to,
    confidence and evidence set; selected from ``threshold`` on.

    ``crm``: crm_id, record_id, subject, sent_at, name, kind, excluded, and the learned
    ``recipients`` and ``threads`` (lists) of the CRM messages sent in the window before the
    rows; ``addresses``: address, record_id. Rows of an excluded record stay as they are.
    """
    out = rows.copy()
    if F.CONFIDENCE not in out.columns:
        out[F.CONFIDENCE] = np.where(out[F.CONTEXT].eq("green"), 1.0, np.nan)
    if rows.empty or crm.empty:
        return out
    todo = np.flatnonzero(
        (out[F.CONTEXT].to_numpy() == "yellow")
        & (out[F.DIRECTION].to_numpy() == "in")
        & ~out[F.EXCLUDED].to_numpy(bool)
    )
    subjects = out[F.SUBJECT].to_numpy(object)
    indexes = out[F.THREAD_INDEX].to_numpy(object) if F.THREAD_INDEX in out.columns else None
    cores = [subject_core(subjects[pos]) for pos in todo]  # each row's, read once
    keys = [thread_key(indexes[pos]) for pos in todo] if indexes is not None else [None] * len(todo)
    cands = _candidates(crm, set(cores), {k for k in keys if k})
    by_subject: dict[str, list[_Candidate]] = {}
    by_thread: dict[str, list[_Candidate]] = {}
    for cand in cands:
        by_subject.setdefault(cand.thread_subject, []).append(cand)
        for thread in cand.threads:
            by_thread.setdefault(thread, []).append(cand)
    records_of: dict[str, set[int]] = {}
    for address, rid in zip(
        addresses["address"].tolist(), addresses["record_id"].tolist(), strict=True
    ):
        records_of.setdefault(address, set()).add(int(rid))
    annexes: dict[int, str] = {}
    for pos, core, key in zip(todo, cores, keys, strict=True):
        pool = list(by_subject.get(core, []))
        if key:
            pool += by_thread.get(key, [])
        if not pool:
            continue  # the bulk of a mailbox: nothing to compare with
        row = out.iloc[pos].to_dict()
        scored = []
        for cand in dict.fromkeys(pool):
            found = _score(row, cand, records_of)
            if found is not None and not cand.excluded:
                scored.append((found[0], cand.sent_at, cand, found[1]))
        if not scored:
            continue
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)  # surest, then the latest
        confidence, _, cand, words = scored[0]
        rivals = [s for s in scored[1:] if s[0] >= confidence - 0.05]
        if rivals:
            confidence = round(confidence - 0.05, 2)
            words += f"; {len(rivals) + 1} CRM messages fit: the latest before it was chosen"
        index = out.index[pos]
        before = out.at[index, F.RECORD_ID]
        # a stored copy on another record is not this one
        already = bool(out.at[index, F.ALREADY_IMPORTED]) and not pd.isna(before)
        already = already and int(before) == cand.record_id
        annex = annexes.get(cand.crm_id)
        if annex is None:
            annex = annexes[cand.crm_id] = (
                f"{cand.subject or '(no subject)'} — {cand.sent_at:%Y-%m-%d %H:%M} — "
                f"{cand.record_name}"
            )
        out.at[index, F.CONTEXT] = PROBABLE
        out.at[index, F.RECORD_ID] = cand.record_id
        out.at[index, F.IMPORTED_INTO] = cand.record_name
        out.at[index, F.RECORD_KIND] = cand.record_kind
        out.at[index, F.CANDIDATES] = [cand.record_id]
        out.at[index, F.CANDIDATE_NAMES] = [cand.record_name]
        out.at[index, F.ANNEXED_TO] = annex
        out.at[index, F.ANNEXED_TO_ID] = cand.crm_id
        out.at[index, F.CONFIDENCE] = confidence
        out.at[index, F.EVIDENCE] = f"probable reply ({confidence:.2f}): {words}"
        out.at[index, F.ALREADY_IMPORTED] = already
    return apply_threshold(out, threshold)


def apply_threshold(rows: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Probable replies ticked from ``threshold`` on (and only those of the other rows that
    were): the notebook's threshold control calls this on the review frame."""
    if F.CONFIDENCE not in rows.columns or rows.empty:
        return rows
    probable = rows[F.CONTEXT].to_numpy() == PROBABLE
    if not probable.any():
        return rows
    out = rows.copy()
    ok = (
        probable
        & (out[F.CONFIDENCE].fillna(0).to_numpy() >= threshold)
        & out[F.MATCHED].to_numpy(bool)
        & ~out[F.EXCLUDED].to_numpy(bool)
        & ~out[F.ALREADY_IMPORTED].to_numpy(bool)
    )
    selected = out[F.SELECTED].to_numpy(bool).copy()
    selected[probable] = ok[probable]
    out[F.SELECTED] = selected
    return out

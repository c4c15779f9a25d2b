"""Coverage: who the CRM is missing. Unknown correspondents, ranked by how much mail they
exchanged with the user, each with a suggestion when one can be made.

Suggestions, surest first:

* the message answers a CRM message (its References name it, or Outlook's thread says so: a
  candidate writing from a second address) — that message's record;
* the display name is a record's name ("Léa Dubois" <lea.private@home.example>);
* the address is in Cc beside a known contact, in the same messages — that contact's record;
* the domain is a client's: a client record has addresses at it. Free-mail domains
  (:data:`FREE_MAIL_DOMAINS`) never suggest a client.

Pure functions over the review frame (``ReviewResult.all_rows``) and the contacts; the address
is added by :func:`primsync.db.addresses.add_address`, recorded and undoable.

>>> is_free_mail("someone@GMail.com"), is_free_mail("hr@acme.example")
(True, False)
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import pandas as pd

from primsync import frame as F

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from primsync.review import ReviewResult

__all__ = ["COVERAGE_COLUMNS", "FREE_MAIL_DOMAINS", "coverage", "coverage_of", "is_free_mail"]

# mail providers anyone can sign up to: a shared domain says nothing of an employer
FREE_MAIL_DOMAINS = frozenset(
    """
    gmail.com googlemail.com outlook.com outlook.fr hotmail.com hotmail.fr hotmail.co.uk
    hotmail.de hotmail.it hotmail.es live.com live.fr live.co.uk msn.com yahoo.com yahoo.fr
    yahoo.co.uk yahoo.de yahoo.it yahoo.es yahoo.com.br ymail.com rocketmail.com aol.com aol.fr
    icloud.com me.com mac.com gmx.de gmx.net gmx.com gmx.fr gmx.at gmx.ch web.de mail.com
    email.com proton.me protonmail.com protonmail.ch pm.me tutanota.com tuta.io zoho.com
    zohomail.com yandex.com yandex.ru ya.ru mail.ru inbox.ru list.ru bk.ru rambler.ru free.fr
    orange.fr wanadoo.fr laposte.net sfr.fr neuf.fr bbox.fr libero.it virgilio.it tiscali.it
    alice.it t-online.de freenet.de arcor.de posteo.de mailbox.org seznam.cz wp.pl o2.pl
    onet.pl interia.pl qq.com 163.com 126.com sina.com naver.com daum.net hanmail.net
    rediffmail.com fastmail.com fastmail.fm hey.com bluewin.ch sapo.pt terra.com.br uol.com.br
    bol.com.br telenet.be skynet.be ziggo.nl kpnmail.nl home.nl planet.nl btinternet.com
    sky.com virginmedia.com comcast.net verizon.net att.net sbcglobal.net cox.net charter.net
    """.split()
)

COVERAGE_COLUMNS = [
    "address",  # the unknown correspondent
    "name",  # the display name seen most
    "messages",  # messages exchanged (received from it, or sent to it)
    "received",
    "sent",
    "copied",  # in Cc of mail received from someone else
    "last_seen",
    "record_id",  # the suggested record, if any
    "record_name",
    "record_kind",
    "reason",  # why, in words
]


def is_free_mail(address: str) -> bool:
    """Whether ``address`` is at a free-mail provider's domain."""
    return address.rpartition("@")[2].strip().lower() in FREE_MAIL_DOMAINS


def _folded(name: str) -> str:
    """A name compared without case, accents or extra spaces."""
    plain = unicodedata.normalize("NFKD", name or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(plain.casefold().replace('"', " ").split())


def coverage(rows: pd.DataFrame, contacts: pd.DataFrame, *, me: str = "") -> pd.DataFrame:
    """Unknown correspondents of a review (``rows``: ``ReviewResult.all_rows``), ranked by
    messages exchanged, then the most recent; ``contacts``: address, record_id, name, kind,
    excluded (one row per record address); ``me``: the account's own address, left out."""
    known = set(contacts["address"].tolist()) if len(contacts) else set()
    me = me.strip().lower()
    received: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    copied: Counter[str] = Counter()
    last: dict[str, pd.Timestamp] = {}
    names: defaultdict[str, Counter[str]] = defaultdict(Counter)
    beside: defaultdict[str, Counter[str]] = defaultdict(Counter)  # unknown -> known in Cc
    answers: dict[str, tuple[int, str]] = {}  # unknown -> (record, why): a reply found by thread

    def seen(address: str, when: pd.Timestamp) -> None:
        if when is not None and not pd.isna(when) and (address not in last or when > last[address]):
            last[address] = when

    columns = [
        F.DIRECTION,
        F.FROM_ADDR,
        F.FROM_NAME,
        F.TO_ADDRS,
        F.CC_ADDRS,
        F.RECEIVED,
        F.CONTEXT,
        F.RECORD_ID,
        F.IMPORTED_INTO,
        F.SUBJECT,
    ]
    for direction, sender, name, to, cc, when, context, record, into, subject in zip(
        *(rows[c].tolist() for c in columns), strict=True
    ):
        if direction == "in":
            if sender and sender not in known and sender != me:
                received[sender] += 1
                seen(sender, when)
                if name:
                    names[sender][name] += 1
                linked = context in ("green", "probable")  # named, or by Outlook's thread
                if linked and record is not None and not pd.isna(record):
                    answers[sender] = (
                        int(record),
                        f"it answered a CRM message to {into} ({subject!r})",
                    )
            people = [sender, *to, *cc]
        else:
            for address in dict.fromkeys([*to, *cc]):
                if address and address not in known and address != me:
                    sent[address] += 1
                    seen(address, when)
            people = [*to, *cc]
        friends = [a for a in people if a in known]
        strangers = [a for a in dict.fromkeys(cc) if a and a not in known and a != me]
        if direction == "in":
            for stranger in strangers:
                copied[stranger] += 1
                seen(stranger, when)
        for stranger in strangers:
            for friend in friends:
                beside[stranger][friend] += 1
    everyone = set(received) | set(sent) | set(copied)
    if not everyone:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)

    records = {}
    by_name: dict[str, list[int]] = defaultdict(list)
    client_domains: dict[str, list[tuple[int, str]]] = defaultdict(list)
    record_of: dict[str, list[int]] = defaultdict(list)
    for address, rid, rname, kind, excluded in zip(
        *(contacts[c].tolist() for c in ("address", "record_id", "name", "kind", "excluded")),
        strict=True,
    ):
        rid = int(rid)
        records[rid] = (rname, kind, bool(excluded))
        record_of[address].append(rid)
        if rid not in by_name[_folded(rname)]:
            by_name[_folded(rname)].append(rid)
        domain = address.rpartition("@")[2]
        if kind == "client" and not is_free_mail(address):
            client_domains[domain].append((rid, address))

    out = []
    for address in everyone:
        suggestion: tuple[int, str] | None = None
        display = names[address].most_common(1)[0][0] if names[address] else ""
        if address in answers:
            suggestion = answers[address]
        if suggestion is None and display:
            same = by_name.get(_folded(display), [])
            if len(same) == 1:
                suggestion = (same[0], f"the display name {display!r} is this record's name")
        if suggestion is None and beside[address]:
            friend, count = beside[address].most_common(1)[0]
            mates = record_of[friend]
            if len(mates) == 1:
                suggestion = (
                    mates[0],
                    f"in Cc beside {friend} ({records[mates[0]][0]}) in {count} "
                    f"message{'s' if count != 1 else ''}",
                )
        domain = address.rpartition("@")[2]
        if suggestion is None and not is_free_mail(address):
            clients = {rid for rid, _ in client_domains.get(domain, [])}
            if len(clients) == 1:
                rid = next(iter(clients))
                example = next(a for r, a in client_domains[domain] if r == rid)
                suggestion = (rid, f"the domain {domain} is this client's ({example})")
        if suggestion is not None and records.get(suggestion[0], ("", "", True))[2]:
            suggestion = None  # never toward a record excluded from synchronization
        rid, why = suggestion if suggestion is not None else (None, "")
        rname, kind, _ = records[rid] if rid is not None else (None, None, False)
        out.append(
            (
                address,
                display,
                received[address] + sent[address] + copied[address],
                received[address],
                sent[address],
                copied[address],
                last.get(address),
                rid,
                rname,
                kind,
                why,
            )
        )
    frame = pd.DataFrame(out, columns=COVERAGE_COLUMNS)
    frame["record_id"] = frame["record_id"].astype("Int64")
    frame["last_seen"] = pd.to_datetime(frame["last_seen"], utc=True)
    return frame.sort_values(
        ["messages", "last_seen", "address"], ascending=[False, False, True], na_position="last"
    ).reset_index(drop=True)


def coverage_of(engine: Engine, review: ReviewResult) -> pd.DataFrame:
    """:func:`coverage` of a review (its every row, the unmatched too) against the database's
    contacts, the account's own address left out."""
    from primsync.db import crm

    return coverage(review.all_rows, crm.contacts_frame(engine), me=review.account)

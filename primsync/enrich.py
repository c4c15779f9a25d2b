"""Contact matching, exclusion, context, imported-into, annexed-to and already-imported.

Pure functions over DataFrames: the review calls :func:`enrich` with what it read from the
database (contacts, the CRM messages the headers name, the stored dedupe keys).

Rules (docs/design.md, "Rules"):

* the counterpart is the sender for received mail, To and Cc for a sent folder; a row is
  *matched* when a counterpart address is on a record;
* a row is *excluded* when any address of From, To or Cc, or the record of the CRM message it
  answers, belongs to a record flagged "exclude from email synchronization";
* *green* when References (newest id first), then In-Reply-To, names a CRM message: the row goes
  to that message's record and ``annexed_to`` names it; *yellow* otherwise, into the record that
  owns the counterpart address;
* an address on several records is *ambiguous*: ``candidates`` lists them and the default is the
  record with the most recent CRM message, then the oldest record (then the lowest id);
* a row already stored on one of its candidate records is *already imported* there;
* ``selected`` = green, shown (matched and not excluded) and not already imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from primsync import frame as F
from primsync.frame import build_frame, gc_paused

__all__ = ["default_record", "enrich", "shown", "shown_mask"]


@dataclass(frozen=True, slots=True)
class _Record:
    id: int
    name: str
    kind: str
    excluded: bool
    has_crm: bool
    rank: tuple[int, int, int]  # the default's order: see default_record


_NAT = np.iinfo(np.int64).min


def _epoch(column: pd.Series) -> np.ndarray:
    """A datetime column as int64 (NaT as the smallest int64), whatever its unit."""
    values = pd.to_datetime(column, utc=True)
    return np.asarray(values.array.asi8)


class _Records:
    """Record facts by id, built only for the records a review touches."""

    def __init__(self, contacts: pd.DataFrame):
        self._contacts = contacts
        self._cache: dict[int, _Record] = {}
        self._pos: dict[int, int] | None = None

    def _load(self) -> dict[int, int]:
        """The contacts as lists, read at the first record asked for (the bulk needs none)."""
        contacts = self._contacts
        ids = contacts["record_id"].astype("int64").tolist()
        self._pos = {rid: i for i, rid in reversed(list(enumerate(ids)))}
        self._names = contacts["name"].tolist()
        self._kinds = contacts["kind"].tolist()
        self._excluded = contacts["excluded"].astype(bool).tolist()
        self._created = _epoch(contacts["created_at"])
        self._last = _epoch(contacts["last_crm_at"])
        return self._pos

    def __getitem__(self, rid: int) -> _Record:
        record = self._cache.get(rid)
        if record is None:
            i = (self._pos if self._pos is not None else self._load())[rid]
            last, created = int(self._last[i]), int(self._created[i])
            has_crm = last != _NAT
            # most recent CRM message first (none: last), then the oldest, then the lowest id
            rank = (-last if has_crm else 1 << 63, created, rid)
            record = _Record(rid, self._names[i], self._kinds[i], self._excluded[i], has_crm, rank)
            self._cache[rid] = record
        return record


@dataclass(frozen=True, slots=True)
class _Crm:
    id: int
    message_id: str
    record_id: int
    subject: str
    sent_at: pd.Timestamp
    record_name: str
    record_kind: str
    record_excluded: bool
    learned: bool = False  # an id the server gave the CRM message, learned from its Sent copy


def default_record(records: Iterable[_Record]) -> _Record:
    """The record with the most recent CRM message, then the oldest record, then the lowest id."""
    return min(records, key=lambda r: r.rank)


def _describe(record: _Record | None, crm: _Crm | None = None) -> str:
    if crm is not None:
        return f"{crm.record_kind} {crm.record_name} (record {crm.record_id})"
    assert record is not None
    return f"{record.kind} {record.name} (record {record.id})"


def _annex(crm: _Crm) -> str:
    when = crm.sent_at.strftime("%Y-%m-%d %H:%M") if not pd.isna(crm.sent_at) else "?"
    return f"{crm.subject or '(no subject)'} — {when} — {crm.record_name}"


def _find_crm(
    references: Sequence[str], in_reply_to: Sequence[str], crm: dict[str, _Crm]
) -> tuple[_Crm | None, str]:
    n = len(references)
    for pos, mid in enumerate(reversed(references)):
        if mid in crm:
            where = (
                "its newest id" if pos == 0 else f"id {pos + 1} of {n}, counting from the newest"
            )
            return crm[mid], f"References names {mid} ({where}){_learned(crm[mid])}"
    for mid in in_reply_to:
        if mid in crm:
            return crm[mid], f"In-Reply-To names {mid}{_learned(crm[mid])}"
    return None, ""


def _learned(crm: _Crm) -> str:
    return ", the id the server gave the CRM message (learned from its Sent copy)" * crm.learned


def _unique(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def enrich(
    parsed: pd.DataFrame,
    contacts: pd.DataFrame,
    crm_messages: pd.DataFrame,
    imported: set[tuple[int, str]] | frozenset[tuple[int, str]] = frozenset(),
) -> pd.DataFrame:
    """The parsed frame with the enrichment columns of ``primsync.frame``, every row kept.

    ``contacts``: address, record_id, name, kind, excluded, created_at, last_crm_at (one row per
    record address); ``crm_messages``: crm_id, message_id, record_id, subject, sent_at, name,
    kind, excluded; ``imported``: stored (record_id, dedupe_key) pairs.
    """
    if parsed.empty:  # a re-sync with nothing new: skip the indexes (a few ms of pandas)
        return _assemble(parsed)
    records = _Records(contacts)
    address = contacts["address"]
    excluded_addresses = set(address[contacts["excluded"].astype(bool).to_numpy()].tolist())
    shared = set(address[address.duplicated(keep=False).to_numpy()].tolist())
    crm_columns = ["crm_id", "message_id", "record_id", "subject", "sent_at", "name", "kind"]
    learned = (
        crm_messages["learned"].astype(bool).tolist()
        if "learned" in crm_messages.columns
        else [False] * len(crm_messages)
    )
    crm = {
        mid: _Crm(int(cid), mid, int(rid), subject or "", sent, name, kind, bool(excl), bool(lrn))
        for cid, mid, rid, subject, sent, name, kind, excl, lrn in zip(
            *(crm_messages[c].tolist() for c in [*crm_columns, "excluded"]), learned, strict=True
        )
    }

    yellow = "yellow: no id in References or In-Reply-To is a CRM message"
    bulk = _bulk_rows(parsed, shared, excluded_addresses)
    with gc_paused():
        # only the columns read: filtering copies each (string columns, in Arrow, by a take)
        rest = parsed.loc[~bulk, _CLASSIFIED] if bulk.any() else parsed
        by_address = _addresses_of(rest, contacts)
        rows = _classify(rest, records, by_address, excluded_addresses, crm, imported, yellow)
        columns = _bulk_columns(parsed, bulk, contacts, imported, yellow)
        return _assemble(parsed, columns, np.flatnonzero(~bulk), rows)


def _objects(items: Iterable, count: int = -1) -> np.ndarray:
    """A 1-d object array of ``items`` (lists stay list values, not a second dimension)."""
    if count < 0:
        items = list(items)
        count = len(items)
    return np.fromiter(items, dtype=object, count=count)


def _addresses_of(rows: pd.DataFrame, contacts: pd.DataFrame) -> dict[str, list[int]]:
    """Record ids by address, for the addresses of ``rows`` only."""
    wanted = set(rows[F.FROM_ADDR].tolist())
    for col in (F.TO_ADDRS, F.CC_ADDRS):
        for addresses in rows[col].tolist():
            wanted.update(addresses)
    mine = contacts[contacts["address"].isin(wanted).to_numpy()]
    by_address: dict[str, list[int]] = {}
    for address, rid in zip(mine["address"].tolist(), mine["record_id"].tolist(), strict=True):
        by_address.setdefault(address, []).append(int(rid))
    return by_address


def _bulk_rows(parsed: pd.DataFrame, shared: set[str], excluded_addresses: set[str]) -> np.ndarray:
    """The bulk of a mailbox, enriched column-wise: received mail without reply headers from a
    sender on at most one record, no address of which is excluded."""
    senders = parsed[F.FROM_ADDR]
    bulk = np.array(parsed[F.DIRECTION] == "in", dtype=bool)
    bulk &= parsed[F.REFERENCES].map(len).to_numpy() == 0
    bulk &= parsed[F.IN_REPLY_TO].map(len).to_numpy() == 0
    if excluded_addresses:
        bulk &= ~senders.isin(excluded_addresses).to_numpy(bool)
        for col in (F.TO_ADDRS, F.CC_ADDRS):
            bulk &= parsed[col].map(excluded_addresses.isdisjoint).to_numpy(bool)
    if shared:  # an address on several records: the default record needs the full rules
        bulk &= ~senders.isin(shared).to_numpy(bool)
    return bulk


Imported = set[tuple[int, str]] | frozenset[tuple[int, str]]  # stored (record_id, dedupe_key)


def _bulk_columns(
    parsed: pd.DataFrame, bulk: np.ndarray, contacts: pd.DataFrame, imported: Imported, yellow: str
) -> dict[str, np.ndarray]:
    """The enriched columns, filled for the bulk rows (see :func:`_bulk_rows`): the record of
    the sender's address (if any), yellow, evidence in words; other rows left None."""
    n = len(parsed)
    out = {col: np.full(n, None, dtype=object) for col in F.ENRICHED_COLUMNS}
    for col in (F.SELECTED, F.ALREADY_IMPORTED, F.MATCHED, F.EXCLUDED):
        out[col] = np.zeros(n, dtype=bool)
    where = np.flatnonzero(bulk)
    if not len(where):
        return out
    senders = parsed[F.FROM_ADDR].to_numpy(object)[where]
    keys = parsed[F.DEDUPE_KEY].to_numpy(object)[where]
    first = contacts.drop_duplicates("address").set_index("address")
    at = first.index.get_indexer(senders)
    at[senders == ""] = -1
    known = at >= 0
    if len(first):
        take = np.maximum(at, 0)
        rids = np.where(known, first["record_id"].to_numpy()[take], 0).astype("int64")
        names = first["name"].to_numpy(object)[take]
        kinds = first["kind"].to_numpy(object)[take]
    else:  # no contacts at all
        rids = np.zeros(len(where), dtype="int64")
        names = kinds = np.full(len(where), None, dtype=object)
    out[F.CONTEXT][where] = "yellow"
    out[F.MATCHED][where] = known
    out[F.IMPORTED_INTO][where] = np.where(known, names, None)
    out[F.RECORD_KIND][where] = np.where(known, kinds, None)
    # plain Python lists from here: zip over numpy arrays would yield numpy scalars
    rows = list(
        zip(
            senders.tolist(),
            rids.tolist(),
            names.tolist(),
            kinds.tolist(),
            known.tolist(),
            strict=True,
        )
    )
    n_bulk = len(rows)
    out[F.COUNTERPARTS][where] = _objects(([s] if s else [] for s, *_ in rows), n_bulk)
    out[F.RECORD_ID][where] = _objects((r if k else None for _, r, _, _, k in rows), n_bulk)
    out[F.CANDIDATES][where] = _objects(([r] if k else [] for _, r, _, _, k in rows), n_bulk)
    out[F.CANDIDATE_NAMES][where] = _objects(([m] if k else [] for _, _, m, _, k in rows), n_bulk)
    out[F.EVIDENCE][where] = _objects(
        (
            f"{yellow}; {s} is on {kind} {name} (record {r})"
            if k
            else f"{yellow}; no sender ({s or 'none'}) is on any record"
            for s, r, name, kind, k in rows
        ),
        n_bulk,
    )
    if imported:
        out[F.ALREADY_IMPORTED][where] = [
            k and (r, key) in imported for (_, r, _, _, k), key in zip(rows, keys, strict=True)
        ]
    return out


# what _classify (and _addresses_of) read of a parsed row
_CLASSIFIED = [F.DIRECTION, F.FROM_ADDR, F.TO_ADDRS, F.CC_ADDRS, F.REFERENCES, F.IN_REPLY_TO]
_CLASSIFIED.append(F.DEDUPE_KEY)


def _classify(
    parsed: pd.DataFrame,
    records: _Records,
    by_address: dict[str, list[int]],
    excluded_addresses: set[str],
    crm: dict[str, _Crm],
    imported: Imported,
    yellow: str,
) -> list[tuple]:
    """One tuple of enrichment values (in F.ENRICHED_COLUMNS order) per parsed row."""
    rows: list[tuple] = []
    annexes: dict[int, str] = {}
    for direction, sender, to, cc, refs, irt, key in zip(
        *(parsed[c].tolist() for c in _CLASSIFIED), strict=True
    ):
        received = direction == "in"
        if received:
            counterparts = [sender] if sender else []
            role = "sender"
        else:
            counterparts = _unique(list(to) + list(cc))
            role = "recipient"

        hit, header_note = _find_crm(refs, irt, crm) if (refs or irt) else (None, "")
        excluded_notes: list[str] = []
        if excluded_addresses and (
            sender in excluded_addresses
            or any(a in excluded_addresses for a in to)
            or any(a in excluded_addresses for a in cc)
        ):
            everyone = _unique(([sender] if sender else []) + list(to) + list(cc))
            excluded_notes = [
                f"{addr} is on {_describe(records[rid])}"
                for addr in everyone
                for rid in by_address.get(addr, ())
                if records[rid].excluded
            ]
        if hit is not None and hit.record_excluded:
            excluded_notes.append(f"it answers a CRM message of {_describe(None, hit)}")
        if received:
            known = by_address.get(sender, []) if sender else []
            known_addrs = counterparts if known else []
        else:
            known = _unique(rid for addr in counterparts for rid in by_address.get(addr, ()))
            known_addrs = [a for a in counterparts if a in by_address]
        excluded = bool(excluded_notes)
        matched = bool(known)

        record: _Record | None = None
        candidates: list[int] = []
        annexed, annexed_id = None, None
        if hit is not None:
            context = "green"
            candidates = [hit.record_id]
            annexed = annexes.get(hit.id)
            if annexed is None:  # a CRM message is often answered several times
                annexed = annexes[hit.id] = _annex(hit)
            annexed_id = hit.id
            evidence = (
                f"green: {header_note}, the CRM message {hit.subject!r} sent to "
                f"{_describe(None, hit)}"
            )
            if matched:
                evidence += f"; the {role} {', '.join(known_addrs)} is a known contact"
            else:
                evidence += (
                    f"; but no {role} ({', '.join(counterparts) or 'none'}) is on any record: "
                    f"add the address to record {hit.record_id} to import it"
                )
        else:
            context = "yellow"
            candidates = sorted(known)
            evidence = "yellow: no id in References or In-Reply-To is a CRM message"
            if matched:
                filed = [rid for rid in known if (rid, key) in imported] if imported else []
                # a row already filed into one of its candidates stays with that record
                if filed:
                    record = records[filed[0]]
                elif len(known) == 1:
                    record = records[known[0]]
                else:
                    record = default_record(records[r] for r in known)
                owners = "; ".join(
                    f"{a} is on " + ", ".join(_describe(records[r]) for r in by_address[a])
                    for a in known_addrs
                )
                evidence += f"; {owners}"
                if filed and len(known) > 1:
                    evidence += f"; already imported into record {record.id}"
                elif len(known) > 1:
                    why = "the most recent CRM message" if record.has_crm else "the oldest record"
                    evidence += (
                        f"; {len(known)} records share the {role}: record {record.id} by default "
                        f"({why})"
                    )
            else:
                evidence += f"; no {role} ({', '.join(counterparts) or 'none'}) is on any record"
        if excluded:
            evidence = "excluded from synchronization: " + "; ".join(excluded_notes)

        if hit is not None:
            record_id, name, kind = hit.record_id, hit.record_name, hit.record_kind
        elif record is not None:
            record_id, name, kind = record.id, record.name, record.kind
        else:
            record_id, name, kind = None, None, None
        already = record_id is not None and (record_id, key) in imported
        rows.append(
            (
                counterparts,
                record_id,
                name,
                kind,
                candidates,
                [hit.record_name] if hit is not None else [records[r].name for r in candidates],
                context,
                annexed,
                annexed_id,
                context == "green" and matched and not excluded and not already,
                already,
                evidence,
                matched,
                excluded,
            )
        )  # in the order of F.ENRICHED_COLUMNS

    return rows


@cache
def _empty_review() -> pd.DataFrame:
    """An empty review frame with every column and dtype (built once: pandas takes ~15 ms)."""
    return (
        build_frame([])
        .reindex(columns=F.REVIEW_COLUMNS)
        .astype(
            {
                F.RECORD_ID: "Int64",
                F.ANNEXED_TO_ID: "Int64",
                F.SELECTED: bool,
                F.ALREADY_IMPORTED: bool,
                F.MATCHED: bool,
                F.EXCLUDED: bool,
                F.CONFIDENCE: "float64",
            }
        )
    )


def _assemble(
    parsed: pd.DataFrame,
    columns: dict[str, np.ndarray] | None = None,
    positions: np.ndarray | None = None,
    rows: list[tuple] | None = None,
) -> pd.DataFrame:
    """The parsed frame plus the enriched ``columns``, ``rows`` (tuples in ENRICHED_COLUMNS
    order) written over them at ``positions``."""
    if parsed.empty or columns is None:
        return _empty_review().copy()
    result = parsed.copy(deep=False)  # copy-on-write: the new columns leave ``parsed`` alone
    by_column = list(zip(*rows, strict=True)) if rows else []
    for i, col in enumerate(F.ENRICHED_COLUMNS):
        values = columns[col]
        if by_column:
            values[positions] = _objects(by_column[i]) if values.dtype == object else by_column[i]
        result[col] = pd.Series(values, index=parsed.index, dtype=object, copy=False)
    result[F.RECORD_ID] = result[F.RECORD_ID].astype("Int64")
    result[F.ANNEXED_TO_ID] = result[F.ANNEXED_TO_ID].astype("Int64")
    for col in (F.SELECTED, F.ALREADY_IMPORTED, F.MATCHED, F.EXCLUDED):
        result[col] = result[col].astype(bool)
    # named links are sure; probable replies (primsync.replies) get theirs later
    result[F.CONFIDENCE] = np.where(result[F.CONTEXT].to_numpy() == "green", 1.0, np.nan)
    return result


def shown_mask(review: pd.DataFrame) -> pd.Series:
    """Which rows the grid shows: a known counterpart, nothing excluded."""
    return review[F.MATCHED] & ~review[F.EXCLUDED]


def shown(review: pd.DataFrame) -> pd.DataFrame:
    """The rows the grid shows (see :func:`shown_mask`)."""
    return review[shown_mask(review)]

"""The review frame: its columns, defined once here and used by name everywhere else.

:func:`build_frame` turns fetched header blocks into the parsed part of the frame;
``primsync.enrich`` adds the columns that need the database (record, context, ...).

>>> build_frame([]).columns.tolist()[:4]
['folder', 'uid', 'uidvalidity', 'direction']
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from primsync.parse import (
    HeaderFields,
    RawSubject,
    Wanted,
    decode_subject,
    dedupe_key,
    parse_headers,
    parse_wanted_headers,
)
from primsync.wire import RawMessage

# parsed from the mailbox
FOLDER = "folder"
UID = "uid"
UIDVALIDITY = "uidvalidity"
DIRECTION = "direction"  # "in" for received mail, "out" for a sent folder
MESSAGE_ID = "message_id"
DEDUPE_KEY = "dedupe_key"
RECEIVED = "received"
FROM = "from"  # the sender's name, or address when there is no name
FROM_ADDR = "from_addr"
FROM_NAME = "from_name"
TO_ADDRS = "to_addrs"
CC_ADDRS = "cc_addrs"
SUBJECT = "subject"
IN_REPLY_TO = "in_reply_to"
REFERENCES = "references"
SIZE = "size"
SEEN = "seen"
DEFECTS = "defects"
THREAD_INDEX = "thread_index"  # Outlook's Thread-Index header, as given
# added by enrich
COUNTERPARTS = "counterparts"
RECORD_ID = "record_id"
IMPORTED_INTO = "imported_into"
RECORD_KIND = "record_kind"
CANDIDATES = "candidates"
CANDIDATE_NAMES = "candidate_names"  # names of the candidate records, in the same order
CONTEXT = "context"  # "green" / "yellow" / "probable" (primsync.replies)
CONFIDENCE = "confidence"  # 1.0 green, 0..1 probable, missing for yellow
ANNEXED_TO = "annexed_to"
ANNEXED_TO_ID = "annexed_to_id"
SELECTED = "selected"
ALREADY_IMPORTED = "already_imported"
EVIDENCE = "evidence"
MATCHED = "matched"
EXCLUDED = "excluded"

PARSED_COLUMNS = [
    FOLDER,
    UID,
    UIDVALIDITY,
    DIRECTION,
    MESSAGE_ID,
    DEDUPE_KEY,
    RECEIVED,
    FROM,
    FROM_ADDR,
    FROM_NAME,
    TO_ADDRS,
    CC_ADDRS,
    SUBJECT,
    IN_REPLY_TO,
    REFERENCES,
    SIZE,
    SEEN,
    DEFECTS,
    THREAD_INDEX,
]
ENRICHED_COLUMNS = [
    COUNTERPARTS,
    RECORD_ID,
    IMPORTED_INTO,
    RECORD_KIND,
    CANDIDATES,
    CANDIDATE_NAMES,
    CONTEXT,
    ANNEXED_TO,
    ANNEXED_TO_ID,
    SELECTED,
    ALREADY_IMPORTED,
    EVIDENCE,
    MATCHED,
    EXCLUDED,
]
REVIEW_COLUMNS = [*PARSED_COLUMNS, *ENRICHED_COLUMNS, CONFIDENCE]

# the grid's headings, in docs/design.md's order
GRID_COLUMNS = {
    RECEIVED: "Received",
    FOLDER: "Folder",
    FROM: "From",
    SUBJECT: "Subject",
    IMPORTED_INTO: "Imported into",
    CONTEXT: "Context",
    ANNEXED_TO: "Annexed to",
}
# what `primsync review --format json` writes for each row
JSON_COLUMNS = [
    FOLDER,
    UID,
    UIDVALIDITY,
    DIRECTION,
    MESSAGE_ID,
    DEDUPE_KEY,
    RECEIVED,
    FROM,
    FROM_ADDR,
    SUBJECT,
    IMPORTED_INTO,
    RECORD_ID,
    RECORD_KIND,
    CANDIDATES,
    CONTEXT,
    ANNEXED_TO,
    ANNEXED_TO_ID,
    SELECTED,
    ALREADY_IMPORTED,
    DEFECTS,
    EVIDENCE,
    MATCHED,
    EXCLUDED,
    CONFIDENCE,
]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a loop builds many small containers: with a
    large frame alive, its repeated full passes cost about a third of such a loop. The objects
    built there (bytes, strings, tuples, lists of strings) form no cycles, so nothing is kept
    longer: reference counting frees them as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class FetchedFolder:
    """The header blocks fetched from one folder."""

    folder: str
    uidvalidity: int
    is_sent: bool
    messages: Iterable[RawMessage]  # a list, or a stream read once


def build_frame(
    folders: Iterable[FetchedFolder],
    *,
    decode_subjects: bool = True,
    wanted: Wanted | None = None,
    dropped: list[int] | None = None,
) -> pd.DataFrame:
    """One row per fetched message with the parsed columns; bad headers give ``defects``.

    Each folder's ``messages`` are read once, so they may be a stream (a fetch in progress):
    a header block is dropped as soon as it is parsed. Built column by column (a list per
    column, then one DataFrame): a dict per row costs more than the parsing itself.

    ``decode_subjects=False``: subjects with encoded words are left undecoded
    (:class:`~primsync.parse.RawSubject`) for :func:`decode_subjects` to decode in the rows
    the caller keeps — a fifth of the parsing, spared for the mail a review lets go of.

    ``wanted``: received mail it refuses, from what the sender, recipients and reply headers
    say (:func:`~primsync.parse.parse_wanted_headers`), gets no row; its UID goes to
    ``dropped``. A sent folder's mail is always read."""
    folder_of: list[str] = []
    validity_of: list[int] = []
    direction_of: list[str] = []
    counts: list[int] = []
    uids: list[int] = []
    sizes: list[int] = []
    flags: list[tuple[str, ...]] = []  # each row's FLAGS (a handful of distinct tuples)
    received: list[int | None] = []
    fields: list[HeaderFields] = []
    with gc_paused():
        for f in folders:
            want = None if f.is_sent else wanted
            before = len(uids)
            position: dict[int, int] = {}  # UID -> row, for later FLAGS of a message read
            for raw in f.messages:
                if raw.update:  # newest FLAGS win
                    row = position.get(raw.uid)
                    if row is not None:
                        flags[row] = raw.flags
                    continue
                if want is None:
                    parsed = parse_headers(raw.data, decode_subject=decode_subjects)
                else:
                    found = parse_wanted_headers(raw.data, want, decode_subject=decode_subjects)
                    if found is None:
                        if dropped is not None:
                            dropped.append(raw.uid)
                        continue
                    parsed = found
                position[raw.uid] = len(uids)
                uids.append(raw.uid)
                sizes.append(raw.size)
                flags.append(raw.flags)
                received.append(raw.received)
                fields.append(parsed)
            counts.append(len(uids) - before)
            folder_of.append(f.folder)
            validity_of.append(f.uidvalidity)
            direction_of.append("out" if f.is_sent else "in")
        seen = {f: _seen(f) for f in set(flags)}
        seconds = np.array(
            [
                r if r is not None else _seconds(h.date)
                for r, h in zip(received, fields, strict=True)
            ],
            dtype="float64",
        )
        columns = {
            FOLDER: np.repeat(np.array(folder_of, dtype=object), counts),
            UID: np.array(uids, dtype="int64"),
            UIDVALIDITY: np.repeat(np.array(validity_of, dtype="int64"), counts),
            DIRECTION: np.repeat(np.array(direction_of, dtype=object), counts),
            # text or None, kept as objects: the column's type never depends on which
            # messages came (pandas makes a column of strings its string type, of Nones objects)
            MESSAGE_ID: _objects([h.message_id for h in fields]),
            DEDUPE_KEY: [
                h.message_id or dedupe_key(h, size) for size, h in zip(sizes, fields, strict=True)
            ],
            RECEIVED: pd.to_datetime(seconds, unit="s", utc=True, errors="coerce"),
            FROM: [h.from_name or h.from_addr for h in fields],
            FROM_ADDR: [h.from_addr for h in fields],
            FROM_NAME: [h.from_name for h in fields],
            TO_ADDRS: [list(h.to_addrs) for h in fields],
            CC_ADDRS: [list(h.cc_addrs) for h in fields],
            SUBJECT: _subjects([h.subject for h in fields], decode_subjects),
            IN_REPLY_TO: [list(h.in_reply_to) for h in fields],
            REFERENCES: [list(h.references) for h in fields],
            SIZE: np.array(sizes, dtype="int64"),
            SEEN: np.array([seen[f] for f in flags], dtype=bool),
            DEFECTS: [
                [*h.defects, _NO_INTERNALDATE] if r is None else list(h.defects)
                for r, h in zip(received, fields, strict=True)
            ],
            THREAD_INDEX: _objects([h.thread_index for h in fields]),
        }
        return pd.DataFrame(columns, columns=PARSED_COLUMNS)


_NO_INTERNALDATE = "INTERNALDATE missing: the Date header is used"


def _objects(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype=object)  # (an object array alone would be inferred)


def _subjects(subjects: list[str], decoded: bool) -> list[str] | pd.Series:
    """The subject column: a column of objects while some are :class:`RawSubject` (pandas
    would turn a column of strings into its string type, which keeps no subclass)."""
    if decoded or not any(type(s) is RawSubject for s in subjects):
        return subjects
    return pd.Series(subjects, dtype=object)


def decode_subjects(rows: pd.DataFrame) -> pd.DataFrame:
    """The subjects :func:`build_frame` left undecoded, decoded (their defects where
    :func:`~primsync.parse.parse_headers` puts them): the same values and types as a frame
    built with every subject decoded. ``rows`` is left as it is."""
    column = rows[SUBJECT]
    if column.dtype != object:  # pandas' string type: nothing was left undecoded
        return rows
    subjects = column.tolist()
    todo = [i for i, subject in enumerate(subjects) if type(subject) is RawSubject]
    if not todo:  # the undecoded ones were let go of: the column pandas would have built
        out = rows.copy(deep=False)
        out[SUBJECT] = pd.Series(subjects, index=rows.index)
        return out
    defects = rows[DEFECTS].tolist()
    for i in todo:
        found: list[str] = []
        subjects[i] = decode_subject(subjects[i], found)
        if found:
            listed = defects[i]
            at = len(listed) - (1 if listed and listed[-1] == _NO_INTERNALDATE else 0)
            defects[i] = [*listed[:at], *found, *listed[at:]]
    out = rows.copy(deep=False)
    out[SUBJECT] = pd.Series([str(s) for s in subjects], index=rows.index)
    out[DEFECTS] = pd.Series(defects, index=rows.index, dtype=object)
    return out


def _seconds(when: datetime | None) -> float:
    return when.timestamp() if when is not None else np.nan


def _seen(flags: tuple[str, ...]) -> bool:
    return "\\Seen" in flags or any(f.lower() == "\\seen" for f in flags)


def frame_json(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A JSON array of the rows (``JSON_COLUMNS`` by default), one object a line, the same
    values as :func:`frame_to_records` gives. Written by pandas' C encoder with the dates
    written first as :func:`frame_to_records` writes them: 0.8 s for 50,000 review rows where
    Python dicts through the json module took 1.3 s and ``indent`` more.

    >>> print(frame_json(pd.DataFrame({"uid": [1, 2], "from": ["Léa", None]})))
    [
    {"uid":1,"from":"Léa"},
    {"uid":2,"from":null}
    ]
    """
    return "".join(frame_json_pieces(frame, columns))


JSON_ROWS_AT_ONCE = 2000  # rows encoded at a time: pandas' encoder held ~6 KB a row meanwhile


def frame_json_pieces(
    frame: pd.DataFrame, columns: list[str] | None = None, rows_at_once: int = JSON_ROWS_AT_ONCE
) -> Iterator[str]:
    """:func:`frame_json`'s text in pieces of ``rows_at_once`` rows, to be written as they
    come: encoded whole, 25,000 review rows (17 MB of JSON) held 164 MB more while pandas
    encoded them, and 250,000 rows 1.4 GB.

    >>> list(frame_json_pieces(pd.DataFrame({"uid": [1, 2, 3]}), rows_at_once=2))
    ['[\\n', '{"uid":1},\\n{"uid":2}', ',\\n{"uid":3}', '\\n]']
    """
    cols = [c for c in (columns or JSON_COLUMNS) if c in frame.columns]
    if frame.empty:
        yield "[]"
        return
    dates = [c for c in cols if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    chosen = frame[cols]  # the columns taken once, not from the whole frame at each piece
    yield "[\n"
    for start in range(0, len(frame), rows_at_once):
        out = chosen.iloc[start : start + rows_at_once].copy()
        for col in dates:
            out[col] = pd.Series(_plain_column(out[col]), index=out.index, dtype=object)
        lines = out.to_json(orient="records", lines=True, force_ascii=False, default_handler=str)
        # a raw newline never stands inside a JSON string: each line is one row (one replace,
        # not a string a row split off and joined again)
        yield (",\n" if start else "") + lines.rstrip("\n").replace("\n", ",\n")
    yield "\n]"


# whole numbers in every piece of a CSV: a piece with a missing one would make pandas write
# the others as floats ("4567.0")
_WHOLE_NUMBERS = (UID, UIDVALIDITY, RECORD_ID, ANNEXED_TO_ID)


def frame_csv_pieces(frame: pd.DataFrame, rows_at_once: int = JSON_ROWS_AT_ONCE) -> Iterator[str]:
    """The rows as CSV (``JSON_COLUMNS``, the values :func:`frame_to_records` gives: ISO
    dates, lists as Python writes them, ids as whole numbers, nothing for what is missing),
    the header first, in pieces of ``rows_at_once`` rows written as they come: the records
    and text of 250,000 rows are never held at once. Lines end in LF (the file's text mode
    writes the platform's line end).

    >>> "".join(frame_csv_pieces(pd.DataFrame({"uid": [1, 2, 3], "record_id": [7, None, 9]}),
    ...                          rows_at_once=2)).splitlines()[:4]  # doctest: +ELLIPSIS
    ['folder,uid,uidvalidity,...', ',1,,...,7,...', ',2,,...,,...', ',3,,...,9,...']
    """
    for start in range(0, max(len(frame), 1), rows_at_once):
        part = frame.iloc[start : start + rows_at_once]
        records = pd.DataFrame(frame_to_records(part), columns=JSON_COLUMNS)
        for col in _WHOLE_NUMBERS:
            records[col] = records[col].astype("Int64")
        yield records.to_csv(index=False, header=start == 0, lineterminator="\n")


def frame_to_records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """Plain JSON-ready dicts (ISO dates, lists, None for missing) of a review frame, built
    column by column (a conversion per cell cost three times the review on 50,000 rows)."""
    cols = [c for c in (columns or JSON_COLUMNS) if c in frame.columns]
    values = [_plain_column(frame[c]) for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _plain_column(column: pd.Series) -> list[object]:
    """A column's values as :func:`_plain` makes them, the common dtypes at once."""
    if isinstance(column.dtype, pd.DatetimeTZDtype) and str(column.dt.tz) == "UTC":
        # numpy writes the seconds in C: pandas' strftime formats each moment in Python
        # (50,000 received dates: 0.15-0.17 -> 0.04 s)
        moments = column.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
        whole = np.datetime_as_string(moments, unit="s").tolist()
        micro = (moments.astype(np.int64) % 1_000_000).tolist()  # floored: right before 1970
        return [  # as Timestamp.isoformat() writes them
            None if text == "NaT" else f"{text}.{us:06d}+00:00" if us else f"{text}+00:00"
            for text, us in zip(whole, micro, strict=True)
        ]
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return [None if pd.isna(t) else t.isoformat() for t in column]
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iub":
        return column.tolist()  # Python ints and bools (numpy's own: no missing values)
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
        return [None if v != v else v for v in column.tolist()]
    values = column.tolist()
    for i, v in enumerate(values):
        kind = type(v)
        if kind is str or v is None:
            continue
        if kind is list and all(type(x) is str or type(x) is int for x in v):
            continue  # ids, addresses, defects: plain already
        values[i] = _plain(v)
    return values


def _plain(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):  # numpy scalars
        return value.item()
    return value

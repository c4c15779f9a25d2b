"""frame: fetched header blocks → the parsed columns of the review frame (no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from primsync import frame as F
from primsync.frame import FetchedFolder, build_frame, frame_to_records
from primsync.wire import RawMessage

HEADERS = (
    b"From: =?utf-8?q?L=C3=A9a?= <Lea@Mail.Example>\r\nTo: ana@agency.example\r\n"
    b"Subject: Re: Interview\r\nMessage-ID: <lea.1@mail.example>\r\n"
    b"In-Reply-To: <crm.1@agency.example>\r\nDate: Mon, 2 Nov 2026 09:00:00 +0100\r\n\r\n"
)
WHEN = int(datetime(2026, 11, 2, 8, 5, tzinfo=UTC).timestamp())


def test_columns_values_and_dtypes():
    frame = build_frame([
        FetchedFolder("INBOX", 7, False, [RawMessage(3, HEADERS, ("\\Seen",), WHEN, 1234)]),
        FetchedFolder("Sent", 9, True, iter([RawMessage(1, b"Subject: x\r\n\r\n", (), None, 20)])),
    ])  # fmt: skip
    assert frame.columns.tolist() == F.PARSED_COLUMNS
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first[F.FOLDER], first[F.UID], first[F.UIDVALIDITY], first[F.DIRECTION]) == (
        "INBOX", 3, 7, "in"
    )  # fmt: skip
    assert (first[F.FROM], first[F.FROM_ADDR], first[F.SUBJECT]) == (
        "Léa", "lea@mail.example", "Re: Interview"
    )  # fmt: skip
    assert first[F.MESSAGE_ID] == first[F.DEDUPE_KEY] == "<lea.1@mail.example>"
    assert first[F.IN_REPLY_TO] == ["<crm.1@agency.example>"] and bool(first[F.SEEN])
    assert first[F.RECEIVED] == pd.Timestamp("2026-11-02 08:05", tz="UTC")  # INTERNALDATE
    assert first[F.DEFECTS] == []
    assert (second[F.DIRECTION], bool(second[F.SEEN]), second[F.FROM_ADDR]) == ("out", False, "")
    assert second[F.DEDUPE_KEY].startswith("sha256:")  # no Message-ID: a hash of stable headers
    assert "INTERNALDATE missing: the Date header is used" in second[F.DEFECTS]
    assert pd.isna(second[F.RECEIVED])  # neither INTERNALDATE nor Date
    assert isinstance(frame[F.RECEIVED].dtype, pd.DatetimeTZDtype)
    assert str(frame[F.RECEIVED].dt.tz) == "UTC"
    assert frame[F.UID].dtype == "int64" and frame[F.SEEN].dtype == bool


def test_an_empty_review_has_the_columns():
    assert build_frame([]).columns.tolist() == F.PARSED_COLUMNS and build_frame([]).empty


def test_records_are_plain_json():
    frame = build_frame([FetchedFolder("INBOX", 7, False, [RawMessage(3, HEADERS, (), WHEN, 5)])])
    (record,) = frame_to_records(frame, [F.UID, F.RECEIVED, F.IN_REPLY_TO, F.SEEN, F.MESSAGE_ID])
    assert record == {
        "uid": 3, "received": "2026-11-02T08:05:00+00:00",
        "in_reply_to": ["<crm.1@agency.example>"], "seen": False,
        "message_id": "<lea.1@mail.example>",
    }  # fmt: skip
    assert json.loads(json.dumps(record)) == record


def test_records_column_by_column_equal_the_plain_values_of_each_cell():
    import numpy as np

    from primsync.frame import _plain

    frame = pd.DataFrame(
        {
            "received": pd.to_datetime(
                ["2026-11-02 08:05:00", None, "2026-01-01 10:00:00.123456"],
                utc=True,
                format="ISO8601",
            ),
            "local": pd.to_datetime(["2026-11-02 08:05"] * 3).tz_localize("Europe/Paris"),
            "uid": np.array([1, 2, 3]),
            "record_id": pd.array([7, None, 9], dtype="Int64"),
            "size": [1.5, np.nan, 2.0],
            "message_id": ["<a@b>", None, "<c@d>"],
            "candidates": [[1, 2], [], [3]],
            "seen": [True, False, True],
        }
    )
    cells = [
        {c: _plain(v) for c, v in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
    assert frame_to_records(frame, list(frame.columns)) == cells
    assert cells[1]["received"] is None and cells[2]["received"].endswith(".123456+00:00")
    assert cells[1]["record_id"] is None and cells[1]["size"] is None
    # UTC moments of any unit, before 1970 and far ahead, with and without a fraction: as
    # Timestamp.isoformat() writes them
    moments = pd.to_datetime(
        ["1969-12-31 23:59:59.500001", "1900-01-01 00:00:00.000001", None, "1970-01-01",
         "2200-05-05 01:02:03.999999", "2026-11-02 08:05:00.5"], utc=True, format="ISO8601",
    )  # fmt: skip
    for unit in ("ns", "us", "ms", "s"):
        column = pd.DataFrame({"received": moments.astype(f"datetime64[{unit}, UTC]")})
        assert [r["received"] for r in frame_to_records(column, ["received"])] == [
            None if pd.isna(t) else t.isoformat() for t in column["received"]
        ], unit


def test_the_json_output_holds_the_same_values_as_the_records():
    import json

    import numpy as np

    from primsync.frame import frame_json, frame_json_pieces

    frame = pd.DataFrame(
        {
            "received": pd.to_datetime(["2026-11-02 08:05:00", None], utc=True),
            "local": pd.to_datetime(["2026-11-02 08:05"] * 2).tz_localize("Europe/Paris"),
            "uid": np.array([1, 2]),
            "record_id": pd.array([7, None], dtype="Int64"),
            "confidence": [0.85, np.nan],
            "subject": ["a/b \u2028 line\nbreak \"q\" \u00e9 \U0001f600", None],
            "candidates": [[1, 2], []],
            "defects": [["From: missing"], []],
            "seen": [True, False],
        }
    )
    columns = list(frame.columns)
    assert json.loads(frame_json(frame, columns)) == frame_to_records(frame, columns)
    assert frame_json(frame, columns).count("\n") == 3  # one row a line
    assert frame_json(frame.iloc[0:0], columns) == "[]"
    # written in pieces of any number of rows (the command line writes them as they come):
    # the same text
    tripled = pd.concat([frame] * 3, ignore_index=True)
    whole = "".join(frame_json_pieces(tripled, columns, rows_at_once=len(tripled)))
    assert json.loads(whole) == frame_to_records(tripled, columns)
    for rows in (1, 2, 4, 5):
        assert "".join(frame_json_pieces(tripled, columns, rows_at_once=rows)) == whole
    assert frame_json(tripled, columns) == whole


def test_subjects_decoded_only_for_the_rows_kept_give_the_same_values(corpus_files):
    """build_frame leaves encoded subjects for decode_subjects to decode in the rows a review
    keeps: on the shared corpus (broken charsets, 8-bit headers, no Message-ID, no
    INTERNALDATE) and on the benchmark's mailbox, the values and defects are those of a frame
    decoded at once, whichever rows are kept."""
    from benchmarks.mailbox import build_messages
    from primsync.parse import RawSubject

    bench, _, _ = build_messages(400, unknown=0.5)
    raws = [p.read_bytes() for p in corpus_files] + [raw for raw, _ in bench]
    messages = [
        RawMessage(uid, raw, (), None if uid % 7 == 0 else 1_700_000_000 + uid, len(raw))
        for uid, raw in enumerate(raws, 1)
    ]
    eager = build_frame([FetchedFolder("Corpus", 1, False, messages)])
    lazy = build_frame([FetchedFolder("Corpus", 1, False, messages)], decode_subjects=False)
    undecoded = sum(type(s) is RawSubject for s in lazy[F.SUBJECT])
    assert undecoded > 100  # the benchmark's names and subjects are often encoded
    pd.testing.assert_frame_equal(F.decode_subjects(lazy), eager)
    kept = lazy.iloc[::3]
    pd.testing.assert_frame_equal(F.decode_subjects(kept), eager.iloc[::3])
    assert sum(type(s) is RawSubject for s in lazy[F.SUBJECT]) == undecoded  # left as it was
    changed = eager[F.DEFECTS].map(lambda d: any(x.startswith("Subject") for x in d))
    assert changed.any()  # some subjects' decoding has defects: they are in the same place


def test_csv_lines_end_in_lf_whatever_the_platforms_line_end(monkeypatch, tmp_path):
    """The CSV is written through a text file (or stdout), which writes the platform's line
    end: pandas' own default (``os.linesep``) would make each Windows line end in CR CR LF."""
    import os

    from primsync.cli_common import frame_out

    monkeypatch.setattr(os, "linesep", "\r\n")  # as on Windows
    rows = pd.DataFrame({"uid": [1, 2], "record_id": [7, None]})
    assert "\r" not in "".join(F.frame_csv_pieces(rows, rows_at_once=1))
    frame_out(pd.DataFrame({"uid": [1, 2]}), "csv", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_bytes() == b"uid\n1\n2\n"

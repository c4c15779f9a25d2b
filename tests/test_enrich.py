"""enrich: matching, exclusion, context and defaults on small frames (no server, no database)."""

from __future__ import annotations

import pandas as pd

from primsync import frame as F
from primsync.enrich import enrich, shown


def ts(text):
    return pd.Timestamp(text, tz="UTC")


CONTACTS = pd.DataFrame(
    [
        # address, record_id, name, kind, excluded, created_at, last_crm_at
        ("ana@x.example", 1, "Ana", "candidate", False, ts("2020-01-01"), ts("2026-01-05")),
        ("shared@x.example", 2, "Old Co", "client", False, ts("2019-01-01"), pd.NaT),
        ("shared@x.example", 3, "New Co", "client", False, ts("2021-01-01"), pd.NaT),
        ("both@x.example", 2, "Old Co", "client", False, ts("2019-01-01"), pd.NaT),
        ("both@x.example", 1, "Ana", "candidate", False, ts("2020-01-01"), ts("2026-01-05")),
        ("ex@x.example", 4, "Ex", "candidate", True, ts("2020-01-01"), pd.NaT),
    ],
    columns=["address", "record_id", "name", "kind", "excluded", "created_at", "last_crm_at"],
)
CRM = pd.DataFrame(
    [
        (10, "<crm1@crm>", 1, "Interview", ts("2026-01-05"), "Ana", "candidate", False),
        (11, "<crm2@crm>", 3, "Offer", ts("2026-01-06"), "New Co", "client", False),
    ],
    columns=["crm_id", "message_id", "record_id", "subject", "sent_at", "name", "kind", "excluded"],
)


def parsed(*rows):
    base = {
        F.FOLDER: "INBOX", F.UID: 1, F.UIDVALIDITY: 7, F.DIRECTION: "in", F.MESSAGE_ID: None,
        F.DEDUPE_KEY: "k", F.RECEIVED: ts("2026-01-07"), F.FROM: "", F.FROM_ADDR: "",
        F.FROM_NAME: "", F.TO_ADDRS: [], F.CC_ADDRS: [], F.SUBJECT: "", F.IN_REPLY_TO: [],
        F.REFERENCES: [], F.SIZE: 1, F.SEEN: False, F.DEFECTS: [],
    }  # fmt: skip
    return pd.DataFrame(
        [{**base, F.UID: i + 1, **r} for i, r in enumerate(rows)], columns=F.PARSED_COLUMNS
    )


def test_yellow_from_a_known_sender():
    out = enrich(parsed({F.FROM_ADDR: "ana@x.example"}), CONTACTS, CRM)
    row = out.iloc[0]
    assert (row[F.RECORD_ID], row[F.CONTEXT], row[F.SELECTED], row[F.CANDIDATES]) == (
        1,
        "yellow",
        False,
        [1],
    )
    assert pd.isna(row[F.ANNEXED_TO_ID]) and row[F.MATCHED] and not row[F.EXCLUDED]


def test_green_goes_to_the_crm_record_even_from_another_known_address():
    out = enrich(
        parsed({F.FROM_ADDR: "ana@x.example", F.REFERENCES: ["<zzz@a>", "<crm2@crm>", "<q@a>"]}),
        CONTACTS,
        CRM,
    )
    row = out.iloc[0]
    assert (row[F.RECORD_ID], row[F.CONTEXT], row[F.ANNEXED_TO_ID], row[F.SELECTED]) == (
        3,
        "green",
        11,
        True,
    )
    assert row[F.ANNEXED_TO].startswith("Offer — 2026-01-06")
    assert "id 2 of 3" in row[F.EVIDENCE]


def test_references_newest_first_then_in_reply_to():
    out = enrich(
        parsed(
            {F.FROM_ADDR: "ana@x.example", F.REFERENCES: ["<crm2@crm>", "<crm1@crm>"],
             F.IN_REPLY_TO: ["<crm2@crm>"]},
            {F.FROM_ADDR: "ana@x.example", F.REFERENCES: ["<nope@a>"],
             F.IN_REPLY_TO: ["<crm2@crm>"]},
        ),
        CONTACTS,
        CRM,
    )  # fmt: skip
    assert out[F.ANNEXED_TO_ID].tolist() == [10, 11]
    assert "In-Reply-To names <crm2@crm>" in out.iloc[1][F.EVIDENCE]


def test_ambiguous_default_most_recent_crm_then_oldest():
    out = enrich(
        parsed({F.FROM_ADDR: "both@x.example"}, {F.FROM_ADDR: "shared@x.example"}), CONTACTS, CRM
    )
    assert out[F.CANDIDATES].tolist() == [[1, 2], [2, 3]]
    assert out[F.RECORD_ID].tolist() == [1, 2]  # Ana has a CRM message; Old Co is the oldest
    assert "the most recent CRM message" in out.iloc[0][F.EVIDENCE]
    assert "the oldest record" in out.iloc[1][F.EVIDENCE]


def test_unknown_and_excluded_rows_are_not_shown():
    out = enrich(
        parsed(
            {F.FROM_ADDR: "stranger@x.example", F.IN_REPLY_TO: ["<crm1@crm>"]},
            {F.FROM_ADDR: "ex@x.example"},
            {F.FROM_ADDR: "ana@x.example", F.CC_ADDRS: ["ex@x.example"]},
            {F.DIRECTION: "out", F.FROM_ADDR: "me@agency",
             F.TO_ADDRS: ["nobody@y", "ana@x.example"]},
            {F.DIRECTION: "out", F.FROM_ADDR: "me@agency", F.TO_ADDRS: ["ana@x.example"],
             F.CC_ADDRS: ["ex@x.example"]},
        ),
        CONTACTS,
        CRM,
    )  # fmt: skip
    assert out[F.MATCHED].tolist() == [False, True, True, True, True]
    assert out[F.EXCLUDED].tolist() == [False, True, True, False, True]
    assert out[F.SELECTED].tolist() == [False] * 5
    assert (
        out.iloc[0][F.CONTEXT] == "green"
        and "add the address to record 1" in out.iloc[0][F.EVIDENCE]
    )
    assert shown(out)[F.UID].tolist() == [4]
    assert out.iloc[3][F.COUNTERPARTS] == ["nobody@y", "ana@x.example"]


def test_already_imported_is_per_record():
    out = enrich(
        parsed(
            {F.FROM_ADDR: "ana@x.example", F.IN_REPLY_TO: ["<crm1@crm>"], F.DEDUPE_KEY: "<m1@a>"},
            {F.FROM_ADDR: "ana@x.example", F.IN_REPLY_TO: ["<crm1@crm>"], F.DEDUPE_KEY: "<m2@a>"},
        ),
        CONTACTS,
        CRM,
        {(1, "<m1@a>"), (3, "<m2@a>")},
    )
    assert out[F.ALREADY_IMPORTED].tolist() == [True, False]
    assert out[F.SELECTED].tolist() == [False, True]


def test_empty_frame():
    out = enrich(parsed().iloc[0:0], CONTACTS, CRM)
    assert out.empty and set(F.REVIEW_COLUMNS) <= set(out.columns)


def test_no_contacts_at_all_leaves_every_row_unmatched():
    rows = parsed({F.FROM_ADDR: "ana@x.example"}, {F.FROM_ADDR: ""})
    out = enrich(rows, CONTACTS.iloc[0:0], CRM.iloc[0:0])
    assert not out[F.MATCHED].any() and out[F.CONTEXT].eq("yellow").all()
    assert out[F.RECORD_ID].isna().all() and out[F.CANDIDATES].tolist() == [[], []]
    assert out[F.COUNTERPARTS].tolist() == [["ana@x.example"], []]

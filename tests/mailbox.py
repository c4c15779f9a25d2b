"""The integration tests' mailbox and what the review must make of it."""

from __future__ import annotations

from primsync.demo import DEMO_ACCOUNT, DemoMail, crm_id

ME = ("Ana Martin", DEMO_ACCOUNT)
LEA = ("Léa Dubois", "Lea.Dubois@Mail.Example")
TOM = ("Tom Baker", "tom.baker@mail.example")
SOFIA = ("Sofia Rossi", "sofia@rossi.example")
PDF = ("CV Sofia.pdf", "application/pdf", b"%PDF-1.4 test CV " + bytes(range(256)))

# record ids as seeded by primsync.demo.seed_database (in RECORDS order, from 1)
LEA_ID, TOM_ID, SOFIA_ID, VICTOR_ID, ACME_ID, GLOBEX_ID, INITECH_ID, BILL_ID = range(1, 9)
JURGEN_ID = 10
# CRM message ids in CRM_MESSAGES order, from 1
CRM_INTERVIEW, CRM_SHORTLIST, CRM_APPLICATION = 1, 2, 3

MAILS = [
    # INBOX, UIDs 1..9
    DemoMail("INBOX", LEA, [ME], "Re: Interview on Monday", 1.2, message_id="<lea.1@mail.example>",
             references=[crm_id("interview")], seen=True),
    DemoMail("INBOX", ("Acme HR", "hr@acme.example"), [ME], "RE: Shortlist", 2.5,
             message_id="<ACME.7@acme.example>", in_reply_to=crm_id("shortlist")),
    DemoMail("INBOX", SOFIA, [ME], "Candidatura — sviluppatrice", 0.25,
             message_id="<sofia.1@rossi.example>", attachments=[PDF]),
    DemoMail("INBOX", ("Deals", "news@deals.example"), [ME], "50% off", 0.4,
             message_id="<n1@deals.example>"),
    DemoMail("INBOX", ("Victor Stone", "victor@stone.example"), [ME], "Re: Checking in", 3,
             message_id="<v.1@stone.example>", references=[crm_id("victor")]),
    DemoMail("INBOX", ("Initech", "info@initech.example"), [ME], "Office move", 4,
             message_id="<i.1@initech.example>"),
    DemoMail("INBOX", ("Someone", "someone@else.example"), [ME], "Re: Your application", 5,
             message_id="<x.1@else.example>", references=[crm_id("application")]),
    DemoMail("INBOX", SOFIA, [ME], "No id here", 10),
    DemoMail("INBOX", ("Jürgen Müller", "jurgen@xn--mnchen-3ya.example"), [ME], "Grüße", 40,
             message_id="<j.1@example>", seen=True),
    # INBOX/Candidates, UIDs 1..2
    DemoMail("INBOX/Candidates", TOM, [ME], "Question about the role", 8,
             message_id="<tom.1@mail.example>"),
    DemoMail("INBOX/Candidates", TOM, [ME], "Re: Your application", 2,
             message_id="<tom.2@mail.example>",
             references=[crm_id("application"), "<ana.9@agency.example>"],
             in_reply_to="<ana.9@agency.example>"),
    # the same reply as INBOX 1, filed here too: UID 3
    DemoMail("INBOX/Candidates", LEA, [ME], "Re: Interview on Monday", 1.2,
             message_id="<lea.1@mail.example>", references=[crm_id("interview")], seen=True),
    # Sent, UIDs 1..2
    DemoMail("Sent", ME, [LEA], "Re: Interview on Monday — directions", 1,
             message_id="<ana.10@agency.example>", in_reply_to=crm_id("interview"),
             attachments=[("plan.png", "image/png", b"\x89PNG\r\n\x1a\n fake map")]),
    DemoMail("Sent", ME, [("Bob", "bob@nowhere.example")], "Hello Victor", 1,
             cc=[("Victor Stone", "victor@stone.example")], message_id="<ana.11@agency.example>"),
    # a non-ASCII folder name, UID 1
    DemoMail("Entretiens planifiés", LEA, [ME], "Disponibilités", 3.5,
             message_id="<lea.2@mail.example>"),
]  # fmt: skip

FOLDERS = ["INBOX", "INBOX/Candidates", "Sent", "Entretiens planifiés"]

# (folder, uid) -> record_id, context, annexed_to_id, candidates, selected
SHOWN = {
    ("INBOX", 1): (LEA_ID, "green", CRM_INTERVIEW, [LEA_ID], True),
    ("INBOX", 2): (ACME_ID, "green", CRM_SHORTLIST, [ACME_ID], True),
    ("INBOX", 3): (SOFIA_ID, "yellow", None, [SOFIA_ID], False),
    ("INBOX", 6): (INITECH_ID, "yellow", None, [INITECH_ID, BILL_ID], False),
    ("INBOX", 8): (SOFIA_ID, "yellow", None, [SOFIA_ID], False),
    ("INBOX", 9): (JURGEN_ID, "yellow", None, [JURGEN_ID], False),
    ("INBOX/Candidates", 1): (TOM_ID, "yellow", None, [TOM_ID], False),
    ("INBOX/Candidates", 2): (TOM_ID, "green", CRM_APPLICATION, [TOM_ID], True),
    ("INBOX/Candidates", 3): (LEA_ID, "green", CRM_INTERVIEW, [LEA_ID], True),
    ("Sent", 1): (LEA_ID, "green", CRM_INTERVIEW, [LEA_ID], True),
    ("Entretiens planifiés", 1): (LEA_ID, "yellow", None, [LEA_ID], False),
}
UNMATCHED = {("INBOX", 4), ("INBOX", 7)}
EXCLUDED = {("INBOX", 5), ("Sent", 2)}

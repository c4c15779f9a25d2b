"""An agency's mailboxes for the scheduled-sync tests: 19 agents on a Dovecot of their own
(``agency`` fixture, tests/conftest.py), each with three messages, two from known contacts."""

from __future__ import annotations

import subprocess

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from primsync.db.models import ImportedMessage
from primsync.db.schedules import set_schedule
from primsync.demo import DemoMail
from primsync.servers import free_port
from tests.conftest import add_account
from tests.forkserver import PRIMSYNC
from tests.mailbox import LEA, ME, SOFIA

AGENTS = [f"agent{n:02d}" for n in range(1, 20)]  # 19 mailboxes; the 20th account's port refuses


def mail(agent: str) -> list[DemoMail]:
    """An agent's three messages (their own ids: the same message on two records' mailboxes
    would be skipped as already stored)."""
    return [
        DemoMail("INBOX", LEA, [ME], f"Availability ({agent})", 1,
                 message_id=f"<a.1.{agent}@mail.example>"),
        DemoMail("INBOX", SOFIA, [ME], f"My CV ({agent})", 2,
                 message_id=f"<s.1.{agent}@rossi.example>"),
        DemoMail("INBOX", ("Deals", "news@deals.example"), [ME], "50% off", 3),  # no contact
    ]  # fmt: skip


KNOWN = 2  # of mail(), from known contacts: what an account imports with --select all


def password(agent: str) -> str:
    return f"pw-{agent}-7"


def register(db, agency, *, busy_proxy=None) -> dict[str, str]:
    """20 accounts scheduled: the agents', one whose keyring password is wrong (agent19), one
    on a port where nothing listens, and agent18 behind ``busy_proxy``. Returns their roles."""
    import keyring

    roles = {}
    for agent in AGENTS:
        address = f"{agent}@agency.example"
        port = busy_proxy.port if (busy_proxy and agent == "agent18") else agency.port
        add_account(db, address, agency, agent, port=port)
        secret = "not-it-123" if agent == "agent19" else password(agent)
        keyring.set_password("primsync", address, secret)
        roles[address] = {"agent18": "busy", "agent19": "wrong password"}.get(agent, "ok")
    add_account(db, "gone@agency.example", agency, "agent01", port=free_port())
    keyring.set_password("primsync", "gone@agency.example", password("agent01"))
    roles["gone@agency.example"] = "refused"
    for address in roles:
        set_schedule(db, address, folders=["INBOX"], accessible_to="Recruiters", select="all")
    return roles


def register_healthy(db, agency, agents: list[str], *, ports: dict[str, int] | None = None):
    """``agents``' accounts, each with its right password, scheduled (INBOX, every row, every
    15 minutes); ``ports`` sends some of them through a proxy. Returns their addresses."""
    import keyring

    addresses = []
    for agent in agents:
        address = f"{agent}@agency.example"
        add_account(db, address, agency, agent, port=(ports or {}).get(agent, agency.port))
        keyring.set_password("primsync", address, password(agent))
        set_schedule(db, address, folders=["INBOX"], accessible_to="Recruiters", select="all")
        addresses.append(address)
    return addresses


def cli(env, db, *args):
    return subprocess.run(
        [*PRIMSYNC, *args], env={**env, "PRIMSYNC_DB": str(db.url)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def stored(db) -> dict[str, int]:
    from primsync.db.models import MailAccount

    with Session(db) as session:
        rows = session.execute(
            select(MailAccount.address, func.count(ImportedMessage.id))
            .join(ImportedMessage, ImportedMessage.account_id == MailAccount.id)
            .group_by(MailAccount.address)
        ).all()
    return dict(rows)

"""The review: registered account + folders + option → the review frame the user ticks.

>>> result = review_mailbox(engine, "ana@agency.example", ["INBOX"], option="7d")  # doctest: +SKIP
>>> result.frame[["received", "from", "subject", "imported_into", "context"]]     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from primsync import frame as F
from primsync.db import accounts, links, runs
from primsync.db.crm import contacts_frame, crm_messages_frame, imported_pairs
from primsync.enrich import enrich, shown, shown_mask
from primsync.errors import ConfigurationError, FolderError, PrimsyncError
from primsync.frame import FetchedFolder, build_frame, decode_subjects
from primsync.imap import Folder, Mailbox, waited_note
from primsync.oauth import TokenProvider
from primsync.opening import open_mailbox
from primsync.options import SyncOption, folder_names, parse_option, search_plan
from primsync.parse import Wanted
from primsync.progress import Progress, reporter
from primsync.replies import (
    COPY_WINDOW,
    DEFAULT_THRESHOLD,
    LEARNED_COLUMNS,
    REPLY_WINDOW,
    learn_copies,
    probable_replies,
    subject_core,
    thread_key,
    thread_subject,
)

__all__ = ["LeftOut", "ReviewResult", "review_mailbox"]


@dataclass(frozen=True)
class FolderScan:
    """What the review saw of one folder: enough for the import to move its sync state."""

    folder: str
    uidvalidity: int
    highestmodseq: int | None
    uids: list[int]
    note: str = ""
    gone: list[int] = field(default_factory=list)  # found by SEARCH, not read by FETCH
    noisy: bool = False  # a folder of copies (Gmail's All Mail...): its rows yield to others


def gone_note(folder: str, gone: Sequence[int]) -> str:
    """What the run says of the UIDs the search found and the fetch did not bring back."""
    shown = ", ".join(map(str, gone[:20])) + (", ..." if len(gone) > 20 else "")
    return (
        f"{folder}: {len(gone)} message{'s' if len(gone) != 1 else ''} found by the search "
        f"but not read (gone from the folder since, or unreadable): UIDs {shown}"
    )


@dataclass(frozen=True)
class LeftOut:
    """The messages a review read and did not keep (``keep_unmatched=False``): counted, never
    held."""

    unknown: int = 0  # no counterpart on any record
    excluded: int = 0  # an address or the answered record excluded from synchronization


@dataclass(frozen=True)
class ReviewResult:
    """The review of one account: ``frame`` is what the grid shows, ``all_rows`` every row
    kept — every message read, or (a review with ``keep_unmatched=False``) only those shown,
    the others counted in ``left_out``.

    ``frame`` is built once and is the user's to change (tick rows in its ``selected`` column,
    file a row elsewhere in ``record_id``): the import reads it as it is then.
    """

    account: str
    option: SyncOption
    all_rows: pd.DataFrame
    scans: list[FolderScan] = field(default_factory=list)
    run_id: int | None = None
    waited: float = 0.0  # seconds spent waiting out a busy server
    left_out: LeftOut | None = None  # None: every row read is in all_rows
    frame: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", shown(self.all_rows))

    @property
    def unmatched(self) -> pd.DataFrame:
        """The rows from unknown correspondents (not excluded)."""
        if self.left_out is not None:
            raise ConfigurationError(
                "this review kept only the rows it shows (the others were counted, not "
                "kept): review with keep_unmatched=True to see them",
                account=self.account,
            )
        rows = self.all_rows
        return rows[~rows[F.MATCHED] & ~rows[F.EXCLUDED]]

    @property
    def unmatched_count(self) -> int:
        """How many rows came from unknown correspondents (not excluded), kept or not."""
        if self.left_out is not None:
            return self.left_out.unknown
        return len(self.unmatched)


def one_row_per_message(
    rows: pd.DataFrame, scans: Sequence[FolderScan], dropped: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Gmail's folders are labels: one message under INBOX, a label and All Mail is one
    message. Keep one row for it — a row the grid shows rather than one it does not (a Sent
    copy rather than the same message received from oneself), then from a folder of its own
    rather than a folder of copies, in the order the folders were asked — and say in its
    evidence where else it is. ``dropped``: the dedupe key and folder of rows the review read
    and did not keep, named in the evidence too."""
    if rows.empty:
        return rows
    rank = {scan.folder: (scan.noisy, i) for i, scan in enumerate(scans)}
    hidden = (~shown_mask(rows)).tolist()
    folders = rows[F.FOLDER].tolist()
    order = sorted(range(len(rows)), key=lambda i: (hidden[i], *rank.get(folders[i], (True, 99))))
    ranked = rows.iloc[order]
    keep = ~ranked[F.DEDUPE_KEY].duplicated()
    seen = ranked[[F.DEDUPE_KEY, F.FOLDER]]
    if dropped is not None and len(dropped):
        seen = pd.concat([seen, dropped[[F.DEDUPE_KEY, F.FOLDER]]], ignore_index=True)
    elsewhere = seen.groupby(F.DEDUPE_KEY, sort=False)[F.FOLDER].agg(list)
    kept = ranked[keep.to_numpy()].sort_index().copy()
    also = [
        ", ".join(dict.fromkeys(f for f in elsewhere[key] if f != folder))
        for key, folder in zip(kept[F.DEDUPE_KEY], kept[F.FOLDER], strict=True)
    ]
    kept[F.EVIDENCE] = [
        f"{evidence}; also in {where} (Gmail labels: one message)" if where else evidence
        for evidence, where in zip(kept[F.EVIDENCE], also, strict=True)
    ]
    return kept.reset_index(drop=True)


def _scan_folders(
    box: Mailbox,
    folders: Sequence[str],
    *,
    option: SyncOption,
    states: dict,
    today: date,
    since: date | None,
    until: date | None,
    progress: Progress,
    pieces: _Pieces,
) -> tuple[list[pd.DataFrame], list[FolderScan]]:
    """The enriched frames of the folders' messages, in pieces (:class:`_Pieces`), and what
    was seen.

    A folder synced before is first asked STATUS (one round trip); when nothing new has come,
    that is all it costs: no LIST, no SELECT, no SEARCH."""
    listed: dict[str, Folder] = {}

    def folder_named(name: str) -> Folder:
        if not listed:  # LIST once, when a folder is to be opened or a name is unknown
            listed.update({f.name: f for f in box.list_folders()})
        folder = listed.get(name)
        if folder is None:
            raise ConfigurationError(
                "no such folder; the folders are: " + ", ".join(sorted(listed)),
                account=box.settings.address,
                folder=name,
            )
        if not folder.selectable:
            raise ConfigurationError(
                "this folder only holds subfolders (\\Noselect)",
                account=box.settings.address,
                folder=name,
            )
        return folder

    frames: list[pd.DataFrame] = []
    scans: list[FolderScan] = []
    for name in folders:
        state = states.get(name)
        if option is SyncOption.SINCE_LAST and state is not None:
            # nothing new? STATUS says so without opening the folder (one round trip)
            try:
                quick = box.folder_status(name)
            except FolderError:
                folder_named(name)  # names the folders when this one does not exist
                raise
            if (
                quick.uidvalidity == state.uidvalidity
                and quick.uidnext is not None
                and quick.uidnext <= state.last_uid + 1
            ):
                scans.append(
                    FolderScan(name, quick.uidvalidity, quick.highestmodseq, [], "nothing new")
                )
                continue
        folder = folder_named(name)
        status = box.select(name)
        plan = search_plan(
            option,
            today=today,
            since=since,
            until=until,
            state=state,
            uidvalidity=status.uidvalidity,
        )
        uids = [u for u in box.search(plan.criteria) if u > plan.min_uid]
        read: set[int] = set()
        if uids:
            # one streaming FETCH: each header block is parsed as it arrives, while the
            # server goes on sending
            dropped: list[int] = []
            wanted = None if folder.is_sent else pieces.wanted()
            with reporter(progress, name) as report:
                messages = box.fetch_headers(uids, progress=report)
                piece = build_frame(
                    [FetchedFolder(name, status.uidvalidity, folder.is_sent, messages)],
                    decode_subjects=False,  # pieces.enrich decodes those of the rows it keeps
                    wanted=wanted,
                    dropped=dropped,
                )
            read.update(piece[F.UID].tolist())
            read.update(dropped)
            pieces.dropped(dropped)
            if not piece.empty:
                frames.append(pieces.enrich(piece))
        gone = sorted(set(uids) - read)  # every UID of the search is a row, or named here
        note = "; ".join(n for n in (plan.note, gone_note(name, gone) if gone else "") if n)
        scans.append(
            FolderScan(
                name, status.uidvalidity, status.highestmodseq, uids, note, gone, folder.noisy
            )
        )
    return frames, scans


def enrich_from_db(
    engine: Engine,
    parsed: pd.DataFrame,
    contacts: pd.DataFrame | None = None,
    learned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`primsync.enrich.enrich` with contacts, CRM messages and dedupe keys from the DB.

    Rows are enriched independently of each other: a review may enrich its frame in pieces
    (``contacts``, read once, passed to each). ``learned``: CRM rows for ids learned from Sent
    copies but not stored (a review that writes nothing)."""
    if parsed.empty:  # nothing new: no need to read every contact of the agency
        return enrich(parsed, pd.DataFrame(), pd.DataFrame())
    ids = {i for col in (F.REFERENCES, F.IN_REPLY_TO) for ids in parsed[col] for i in ids}
    crm = crm_messages_frame(engine, ids)
    if learned is not None and not learned.empty:
        crm = pd.concat([crm, learned], ignore_index=True).drop_duplicates("message_id")
    return enrich(
        parsed,
        contacts_frame(engine) if contacts is None else contacts,
        crm,
        imported_pairs(engine, parsed[F.DEDUPE_KEY]),
    )


def learn_from_sent(
    engine: Engine, rows: pd.DataFrame, account_id: int | None, *, store: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link the Sent copies among ``rows`` to their CRM messages (:func:`learn_copies`), keep
    the links (``store``), and enrich again the rows naming an id learned now: they turn green.
    Returns the rows and the links learned now."""
    sent_ids = (rows[F.DIRECTION].to_numpy() == "out") & rows[F.MESSAGE_ID].notna().to_numpy()
    sent = rows[sent_ids] if sent_ids.any() else rows.iloc[0:0]  # no copy of a received mailbox
    nothing = learn_copies(sent.iloc[0:0], pd.DataFrame(), pd.DataFrame())
    if sent.empty:
        return rows, nothing
    known = links.known_copies(engine, sent[F.MESSAGE_ID])
    when = sent[F.RECEIVED].dropna()
    if when.empty:
        return rows, nothing
    crm = links.crm_sent_between(engine, when.min() - COPY_WINDOW, when.max() + COPY_WINDOW)
    recipients = {a for col in (F.TO_ADDRS, F.CC_ADDRS) for addrs in sent[col] for a in addrs}
    learned = learn_copies(sent, crm, links.addresses_of(engine, recipients), known)
    if learned.empty:
        return rows, learned
    if store:
        links.store_copies(engine, learned, account_id)
    fresh = set(learned.loc[learned["how"] == "rewritten", "message_id"])
    names = rows[F.REFERENCES].map(lambda ids: not fresh.isdisjoint(ids)) | rows[F.IN_REPLY_TO].map(
        lambda ids: not fresh.isdisjoint(ids)
    )
    if not names.any():
        return rows, learned
    extra = None
    if not store:  # not in the database: the CRM rows of the learned ids, built here
        by_crm = dict(zip(learned["crm_id"], learned["message_id"], strict=True))
        originals = crm.loc[crm["crm_id"].isin(list(by_crm)), "message_id"]
        extra = crm_messages_frame(engine, originals)
        extra["message_id"] = extra["crm_id"].map(by_crm)
        extra["learned"] = True
    again = enrich_from_db(engine, rows.loc[names, F.PARSED_COLUMNS], learned=extra)
    again.index = rows.index[names.to_numpy()]
    out = rows.copy()
    out.loc[again.index, again.columns] = again
    return out, learned


def find_probable_replies(
    engine: Engine,
    rows: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    learned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Yellow received rows that most likely answer a CRM message become probable replies
    (:func:`primsync.replies.probable_replies`), with the candidates read from the database
    and, from ``learned``, the Sent copies linked by this review but not stored."""
    out = rows
    read = [c for c in (F.FROM_ADDR, F.THREAD_INDEX, F.RECEIVED, F.SUBJECT) if c in out.columns]
    yellow = out.loc[  # the columns read here only: filtering copies each
        (out[F.CONTEXT].to_numpy() == "yellow")
        & (out[F.DIRECTION].to_numpy() == "in")
        & ~out[F.EXCLUDED].to_numpy(bool),
        read,
    ]
    if yellow.empty:
        return out
    senders = yellow[F.FROM_ADDR].dropna()  # "Re:" or not: a reply may have lost its prefix
    keys = [k for k in map(thread_key, yellow.get(F.THREAD_INDEX, pd.Series(dtype=object))) if k]
    when = yellow[F.RECEIVED].dropna()
    fresh = learned if learned is not None else pd.DataFrame(columns=LEARNED_COLUMNS)
    if when.empty or (senders.empty and not keys):
        return out
    start, end = when.min() - REPLY_WINDOW, when.max()
    # copies this review linked but did not store: in a thread, or sent to a sender
    wanted = set(senders.tolist())
    also = [
        crm_id
        for crm_id, who, thread in zip(
            *(fresh[c].tolist() for c in ("crm_id", "recipients", "thread")), strict=True
        )
        if thread in keys or not wanted.isdisjoint(who)
    ]
    # a "Re:" may come from someone the CRM message neither went to nor is about: the CRM
    # messages of the window with the same subject (read: id and subject, then compared here)
    cores = set()
    for subject in set(yellow[F.SUBJECT].dropna().tolist()):  # each subject once
        core, prefixes = thread_subject(subject)
        if prefixes and core:
            cores.add(core)
    if cores:
        sent = links.crm_sent_between(engine, start, end)
        also += [
            int(crm_id)
            for crm_id, subject in zip(
                sent["crm_id"].tolist(), sent["subject"].tolist(), strict=True
            )
            if subject_core(subject) in cores
        ]
    crm = links.reply_candidates(engine, senders, keys, start, end, also=also)
    if crm.empty:
        return out
    for crm_id, who, thread in zip(
        *(fresh[c].tolist() for c in ("crm_id", "recipients", "thread")), strict=True
    ):
        at = crm.index[crm["crm_id"] == crm_id]
        for i in at:  # what this review learned counts as if it had been stored
            crm.at[i, "recipients"] = sorted({*crm.at[i, "recipients"], *who})
            more = [thread] if isinstance(thread, str) else []  # None: no Thread-Index
            crm.at[i, "threads"] = sorted({*crm.at[i, "threads"], *more})
    addresses = links.addresses_of(engine, yellow[F.FROM_ADDR])
    return probable_replies(out, crm, addresses, threshold)


@dataclass
class _Tally:
    """What a review read and what it let go of (``keep_unmatched=False``)."""

    unknown: int = 0
    excluded: int = 0
    dropped: list[pd.DataFrame] = field(default_factory=list)  # key, folder, excluded: Gmail

    def drop(self, rows: pd.DataFrame, gone: np.ndarray, *, note_folders: bool) -> pd.DataFrame:
        """``rows`` without those at ``gone`` (a boolean mask), counted."""
        if not gone.any():
            return rows
        excluded = rows[F.EXCLUDED].to_numpy(bool)
        self.excluded += int((gone & excluded).sum())
        self.unknown += int((gone & ~excluded).sum())
        if note_folders:
            self.dropped.append(rows.loc[gone, [F.DEDUPE_KEY, F.FOLDER, F.EXCLUDED]])
        return rows[~gone].reset_index(drop=True)

    def left_out(self, kept: pd.DataFrame) -> LeftOut:
        """The counts; with Gmail's labels, a message is counted once (and not at all when a
        copy of it is kept)."""
        if not self.dropped:
            return LeftOut(self.unknown, self.excluded)
        dropped = pd.concat(self.dropped, ignore_index=True)
        dropped = dropped[~dropped[F.DEDUPE_KEY].isin(kept[F.DEDUPE_KEY])]
        dropped = dropped.drop_duplicates(F.DEDUPE_KEY)
        excluded = int(dropped[F.EXCLUDED].astype(bool).sum())
        return LeftOut(len(dropped) - excluded, excluded)


class _Pieces:
    """The pieces of one review: the contacts read once (when the first folder has mail to
    read), each piece enriched with them, its subjects decoded. Without ``keep_unmatched``
    nothing the grid will not show is held: received mail from a sender on no record (no
    reply header, no excluded address: only the sender decides) gets no row at all
    (:meth:`wanted`: its date, ids and subject are never read), the other received rows not
    shown are let go of once matched; both counted in ``tally``. A sent folder's rows stay
    until the Sent copies have taught what they teach."""

    def __init__(
        self, engine: Engine, tally: _Tally, *, keep_unmatched: bool, note_folders: bool
    ) -> None:
        self.engine, self.tally = engine, tally
        self.keep_unmatched, self.note_folders = keep_unmatched, note_folders
        self._contacts: pd.DataFrame | None = None
        self._wanted: Wanted | None = None

    def contacts(self) -> pd.DataFrame:
        if self._contacts is None:
            self._contacts = contacts_frame(self.engine)
        return self._contacts

    def wanted(self) -> Wanted | None:
        """What :func:`~primsync.frame.build_frame` reads of received mail; None: all of it
        (every row kept, or Gmail's labels, whose copies are named by their rows)."""
        if self.keep_unmatched or self.note_folders:
            return None
        if self._wanted is not None:
            return self._wanted
        contacts = self.contacts()
        known = set(contacts["address"].tolist())
        excluded = set(contacts.loc[contacts["excluded"].astype(bool).to_numpy(), "address"])

        def wanted(sender: str, to: tuple[str, ...], cc: tuple[str, ...], replies: bool) -> bool:
            if sender in known or replies:  # a reply may answer an excluded record's mail
                return True
            return bool(excluded) and not excluded.isdisjoint((*to, *cc))

        self._wanted = wanted
        return wanted

    def dropped(self, uids: list[int]) -> None:
        """Received mail :meth:`wanted` refused: from unknown correspondents, none excluded."""
        self.tally.unknown += len(uids)

    def enrich(self, parsed: pd.DataFrame) -> pd.DataFrame:
        rows = enrich_from_db(self.engine, parsed, self.contacts() if len(parsed) else None)
        if not self.keep_unmatched and not rows.empty:
            gone = (rows[F.DIRECTION].to_numpy() == "in") & ~shown_mask(rows).to_numpy(bool)
            rows = self.tally.drop(rows, gone, note_folders=self.note_folders)
        return decode_subjects(rows)


def review_mailbox(
    engine: Engine,
    account: str,
    folders: str | Sequence[str],
    *,
    option: str | SyncOption = SyncOption.SINCE_LAST,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
    secret: str | TokenProvider | None = None,
    prompt: Callable[[str], str] | None = None,
    progress: Progress = False,
    mailbox: Mailbox | None = None,
    record: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    keep_unmatched: bool = True,
) -> ReviewResult:
    """Search and fetch the headers of ``folders`` (a list, or one folder's name, or a JSON
    list: :func:`primsync.options.folder_names`), then match them against the database.

    Copies of CRM mail in a sent folder teach the ids the server gave them (kept, unless
    ``record=False``); yellow rows that most likely answer a CRM message become probable
    replies, ticked from ``threshold`` on (:mod:`primsync.replies`).

    Nothing is flagged on the server (read-only SELECT, ``BODY.PEEK``). A ``sync_run`` row of
    kind "review" records who, what and how many; a failure is recorded there with its reason.
    With ``record=False`` (a notebook that only reads) nothing at all is written.

    ``keep_unmatched=False``: only the rows the grid shows are kept (memory bounded by them,
    not by the folder); the others are counted in ``ReviewResult.left_out``. The rows kept
    and their values are the same either way.
    """
    opt = parse_option(option)
    folders = folder_names(folders)
    if not folders:
        raise ConfigurationError("choose at least one folder", account=account)
    account_id, owner_id = accounts.account_ids(engine, account)
    gmail = accounts.account_provider(engine, account) == "gmail" and len(folders) > 1
    tally = _Tally()
    run_id = None
    if record:
        run_id = runs.start_run(
            engine,
            kind="review",
            account_id=account_id,
            user_id=owner_id,
            folders=list(folders),
            option=opt.value,
        )

    def finish(**outcome: Any) -> None:
        if run_id is not None:
            runs.finish_run(engine, run_id, **outcome)

    try:
        box = mailbox or open_mailbox(engine, account, secret=secret, prompt=prompt, record=record)
        try:
            frames, scans = _scan_folders(
                box,
                folders,
                option=opt,
                states=runs.folder_states(engine, account_id),
                today=today or date.today(),
                since=since,
                until=until,
                progress=progress,
                pieces=_Pieces(engine, tally, keep_unmatched=keep_unmatched, note_folders=gmail),
            )
        finally:
            waited = box.waited
            if mailbox is None:
                box.close()
        if not frames:
            rows = enrich_from_db(engine, build_frame([]))
        elif len(frames) == 1:
            rows = frames[0]
        else:
            rows = pd.concat(frames, ignore_index=True)
        rows, learned = learn_from_sent(engine, rows, account_id, store=record)
        rows = find_probable_replies(engine, rows, threshold, learned)
        if not keep_unmatched:  # the sent folder's rows not shown: taught what they teach
            rows = tally.drop(rows, ~shown_mask(rows).to_numpy(bool), note_folders=gmail)
        if gmail and len(scans) > 1:
            dropped = pd.concat(tally.dropped, ignore_index=True) if tally.dropped else None
            rows = one_row_per_message(rows, scans, dropped)
    except PrimsyncError as exc:
        finish(status="failed", error=str(exc))
        raise
    except Exception as exc:
        finish(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    left_out = None if keep_unmatched else tally.left_out(rows)
    result = ReviewResult(account, opt, rows, scans, run_id, waited, left_out)
    shown_rows = len(result.frame)
    notes = [gone_note(s.folder, s.gone) for s in scans if s.gone]
    notes += [waited_note(waited)] if waited else []
    if len(learned):
        notes.append(f"learned {len(learned)} id(s) of CRM mail from its Sent copies")
    fetched = len(rows) + (left_out.unknown + left_out.excluded if left_out else 0)
    finish(status="ok", fetched=fetched, shown=shown_rows, note="; ".join(notes))
    return result

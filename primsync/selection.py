"""The review grid's logic, without widgets: what it shows, what can be ticked, record choice.

Positions are row numbers in the review frame (what the grid widget reports); everything here
maps them back to index labels so that sorting or searching in the browser changes nothing.

>>> view = grid_view(result.frame)                       # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import pandas as pd

from primsync import frame as F
from primsync.errors import ConfigurationError

__all__ = [
    "GRID_VIEW_COLUMNS",
    "audience_note",
    "carry_ticks",
    "choose_record",
    "choose_rows",
    "grid_view",
    "mark_imported",
    "newest_first",
    "positions_of",
    "row_details",
    "tickable_positions",
    "with_selection",
]


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _context_label(kind: str, confidence: object) -> str:
    if kind == "probable" and isinstance(confidence, float) and confidence == confidence:
        return f"probable {confidence:.0%}"  # a reply inferred, not named: how sure
    return kind


# what the grid shows of a row, in this order (the browser escapes each value and tints the row
# by its kind: green, yellow, probable, or imported, which cannot be ticked)
GRID_VIEW_COLUMNS = [*F.GRID_COLUMNS.values(), "kind"]


def grid_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The grid's cells as plain text, in the grid's order (``GRID_VIEW_COLUMNS``): the date to
    the minute, "(1 of N, choose)" after a record with other candidates, the context's label
    ("probable 83%"), and the row's kind ("imported" for a row already imported).

    >>> frame = pd.DataFrame({F.RECEIVED: [pd.Timestamp("2026-03-02 09:15:30")],
    ...     F.FOLDER: ["INBOX/Clients"], F.FROM: ["Léa <lea@x.example>"], F.SUBJECT: ["<b>Hi"],
    ...     F.IMPORTED_INTO: ["Léa"], F.CANDIDATES: [[1, 2]], F.CONTEXT: ["probable"],
    ...     F.ANNEXED_TO: [None], F.ALREADY_IMPORTED: [False], F.CONFIDENCE: [0.834]})
    >>> grid_view(frame).iloc[0].tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['2026-03-02 09:15', 'INBOX/Clients', 'Léa <lea@x.example>', '<b>Hi',
     'Léa (1 of 2, choose)', 'probable 83%', '', 'probable']
    """
    rows = []
    if F.CONFIDENCE not in frame.columns:
        frame = frame.assign(**{F.CONFIDENCE: float("nan")})
    for received, folder, sender, subject, into, n, context, annex, already, sure in frame[
        [
            F.RECEIVED,
            F.FOLDER,
            F.FROM,
            F.SUBJECT,
            F.IMPORTED_INTO,
            F.CANDIDATES,
            F.CONTEXT,
            F.ANNEXED_TO,
            F.ALREADY_IMPORTED,
            F.CONFIDENCE,
        ]
    ].itertuples(index=False, name=None):
        kind = "imported" if already else str(context)
        when = received.strftime("%Y-%m-%d %H:%M") if not pd.isna(received) else ""
        target = _text(into)
        if len(n) > 1 and not already:
            target = f"{target} (1 of {len(n)}, choose)"
        rows.append(
            [
                when,
                _text(folder),
                _text(sender),
                _text(subject),
                target,
                _context_label(kind, sure),
                _text(annex),
                kind,
            ]
        )
    return pd.DataFrame(rows, columns=GRID_VIEW_COLUMNS)


def newest_first(frame: pd.DataFrame) -> pd.DataFrame:
    """The review frame as the grid shows it: newest first (stable for equal dates)."""
    return frame.sort_values(F.RECEIVED, ascending=False, kind="stable", na_position="last")


def carry_ticks(new: pd.DataFrame, old: pd.DataFrame) -> pd.DataFrame:
    """``new`` with the ticks the user had set on the same messages (folder, UID) in ``old``:
    a second synchronisation of the same folders keeps them."""
    if old.empty or new.empty:
        return new
    before = dict(zip(zip(old[F.FOLDER], old[F.UID], strict=True), old[F.SELECTED], strict=True))
    out = new.copy()
    keys = list(zip(out[F.FOLDER], out[F.UID], strict=True))
    out[F.SELECTED] = [
        bool(before.get(key, ticked)) and not done
        for key, ticked, done in zip(keys, out[F.SELECTED], out[F.ALREADY_IMPORTED], strict=True)
    ]
    return out


def positions_of(frame: pd.DataFrame, which: str) -> list[int]:
    """Positions for the grid's tick actions: "green", "yellow", "probable", "all" (not yet
    imported)."""
    open_ = ~frame[F.ALREADY_IMPORTED].to_numpy(bool)
    if which in ("green", "yellow", "probable"):
        open_ &= (frame[F.CONTEXT] == which).to_numpy(bool)
    elif which != "all":
        raise ConfigurationError(f"unknown tick action {which!r}")
    return [int(i) for i in open_.nonzero()[0]]


def after_tick_action(frame: pd.DataFrame, ticked: Iterable[int], which: str) -> list[int]:
    """The ticked positions after a tick button: "green", "yellow", "probable" and "all" add
    their rows to the ticks already there (a row ticked by hand stays ticked); "none" clears.

    >>> frame = pd.DataFrame({F.CONTEXT: ["green", "yellow", "green"],
    ...                       F.ALREADY_IMPORTED: [False, False, True]})
    >>> after_tick_action(frame, [1], "green"), after_tick_action(frame, [1], "probable")
    ([0, 1], [1])
    >>> after_tick_action(frame, [0, 1], "none")
    []
    """
    if which == "none":
        return []
    return tickable_positions(frame, {*ticked, *positions_of(frame, which)})


def tickable_positions(frame: pd.DataFrame, positions: Iterable[int]) -> list[int]:
    """The positions that may be ticked: rows not already imported."""
    imported = frame[F.ALREADY_IMPORTED].to_numpy()
    return sorted({int(p) for p in positions if 0 <= int(p) < len(frame) and not imported[int(p)]})


def with_selection(frame: pd.DataFrame, positions: Iterable[int]) -> pd.DataFrame:
    """A copy of ``frame`` whose ``selected`` column is exactly the ticked positions."""
    out = frame.copy()
    ticked = set(tickable_positions(frame, positions))
    out[F.SELECTED] = [i in ticked for i in range(len(out))]
    return out


def choose_record(frame: pd.DataFrame, label: object, record_id: int) -> pd.DataFrame:
    """File row ``label`` into another of its candidate records."""
    candidates = list(frame.at[label, F.CANDIDATES])
    if record_id not in candidates:
        raise ConfigurationError(f"record {record_id} is not a candidate of this row: {candidates}")
    out = frame.copy()
    out.at[label, F.RECORD_ID] = record_id
    out.at[label, F.IMPORTED_INTO] = frame.at[label, F.CANDIDATE_NAMES][candidates.index(record_id)]
    return out


def mark_imported(frame: pd.DataFrame, outcome: pd.DataFrame) -> pd.DataFrame:
    """After an import: rows stored (or found stored) become already imported and unticked."""
    out = frame.copy()
    done = outcome.index[
        (outcome["outcome"] == "imported")
        | (outcome["reason"] == "already imported into this record")
    ]
    out.loc[out.index.isin(done), F.ALREADY_IMPORTED] = True
    out.loc[out.index.isin(done), F.SELECTED] = False
    return out


def row_details(row: pd.Series) -> str:
    """HTML for the details pane: the row's subject and sender, why it has its context."""
    parts = [
        f"<b>{html.escape(str(row[F.SUBJECT]))}</b> — {html.escape(str(row[F.FROM_ADDR]))}",
        f"<div>{html.escape(str(row[F.EVIDENCE]))}</div>",
    ]
    if row[F.DEFECTS]:
        parts.append(f"<div>Defects: {html.escape('; '.join(row[F.DEFECTS]))}</div>")
    return "".join(parts)


def audience_note(group: str, viewers: list[str], *, own_group: str, own_viewers: list[str]) -> str:
    """HTML for the security preview of "Accessible to": who will see the imported messages,
    and, for a group wider than the user's own, how many users that adds and who they are."""
    names = ", ".join(html.escape(v) for v in viewers) or "nobody"
    text = f"Accessible to <b>{html.escape(group)}</b>: visible to {len(viewers)} " + (
        f"user{'s' if len(viewers) != 1 else ''}: {names}."
    )
    added = [v for v in viewers if v not in set(own_viewers)]
    if not added:
        return f"<div>{text}</div>"
    return (
        f'<div style="color:#b71c1c">{text} That is {len(added)} more '
        f"user{'s' if len(added) != 1 else ''} than your group {html.escape(own_group)}: "
        f"{', '.join(html.escape(v) for v in added)}.</div>"
    )


def _folder_uid(text: str) -> tuple[str, int]:
    folder, sep, uid = text.rpartition(":")
    if not sep or not folder or not uid.isdigit():
        raise ConfigurationError(f"expected FOLDER:UID, got {text!r}")
    return folder, int(uid)


def choose_rows(
    frame: pd.DataFrame,
    *,
    select: str | None = "green",
    uids: Iterable[str] = (),
    into: Iterable[str] = (),
) -> pd.DataFrame:
    """The rows to import: ``select`` "green" (the pre-ticked rows: green, and probable replies
    from the review's threshold) or "all" (every row not yet
    imported), or the ``uids`` named as FOLDER:UID; ``into`` files FOLDER:UID=RECORD elsewhere."""
    keys = list(zip(frame[F.FOLDER], frame[F.UID], strict=True))
    uids, into = list(uids), list(into)
    if uids:
        wanted = [_folder_uid(u) for u in uids]
        unknown = [f"{f}:{u}" for f, u in wanted if (f, u) not in keys]
        if unknown:
            raise ConfigurationError(
                "not rows of this review (unknown correspondent, excluded, or not found): "
                + ", ".join(unknown)
            )
        chosen = frame[[k in set(wanted) for k in keys]]
    elif select == "all":
        chosen = frame[~frame[F.ALREADY_IMPORTED]]
    else:
        chosen = frame[frame[F.SELECTED]]
    chosen = chosen.copy()
    for item in into:
        target, sep, record = item.partition("=")
        key = _folder_uid(target)
        if not sep or not record.isdigit():
            raise ConfigurationError(f"expected FOLDER:UID=RECORD, got {item!r}")
        hit = [k == key for k in zip(chosen[F.FOLDER], chosen[F.UID], strict=True)]
        if not any(hit):
            raise ConfigurationError(f"--into names {target!r}, which is not being imported")
        chosen.loc[hit, F.RECORD_ID] = int(record)
    return chosen

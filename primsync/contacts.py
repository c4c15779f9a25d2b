"""The CRM's records as people export them: a CSV from an ATS, a CRM or a spreadsheet, or a
vCard file (``.vcf``), read into :class:`RecordLine` rows. Pure: bytes in, rows and problems out;
``db/people.py`` compares them with the database and writes them.

A CSV has a header row; its columns are ``kind`` (candidate, client, employee, contact),
``name``, ``email`` (one or several addresses separated by spaces, commas or semicolons) and,
optionally, ``exclude`` (yes/no, true/false, 1/0) and ``id`` (the source system's own id). The
delimiter (``,`` ``;`` tab) is sniffed; UTF-8 with or without BOM, UTF-16 with BOM (Excel's
"Unicode text") and Windows-1252 (Excel's CSV in much of Europe) are read.

>>> lines = read_records(b"kind;name;email\\ncandidate;L\\xe9a Dubois;lea@mail.example\\n")
>>> [(r.line, r.kind, r.name, r.emails) for r in lines.rows]
[(2, 'candidate', 'Léa Dubois', ('lea@mail.example',))]
>>> read_records(b"kind,name,email\\nboss,Bob,bob@x.example\\n").problems[0].text
"line 2, column kind: unknown kind 'boss' (candidate, client, employee or contact)"
"""

from __future__ import annotations

import codecs
import csv
import io
import quopri
import re
from dataclasses import dataclass, field

from primsync.parse import normalize_address

__all__ = ["KINDS", "Problem", "RecordLine", "RecordsFile", "read_records"]

KINDS = ("candidate", "client", "employee", "contact")

# the headings people's exports use for each column, compared lower-cased without spaces,
# dashes or underscores
_HEADINGS = {
    "kind": {"kind", "type", "recordtype", "category"},
    "name": {"name", "fullname", "displayname", "contactname", "nom"},
    "email": {"email", "emails", "emailaddress", "emailaddresses", "mail", "addresses"},
    "exclude": {"exclude", "excludefromsync", "excludefromemailsynchronization", "donotsync"},
    "id": {"id", "externalid", "sourceid", "ref", "reference"},
}
_TRUE = {"yes", "y", "true", "1", "x", "oui", "ja"}
_FALSE = {"no", "n", "false", "0", "non", "nein"}
_SPLIT = re.compile(r"[\s,;]+")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\".]+$")


@dataclass(frozen=True, slots=True)
class RecordLine:
    """One record as a file gives it; ``line`` is where it starts (1 is the header)."""

    line: int
    kind: str
    name: str
    emails: tuple[str, ...]
    exclude: bool | None = None  # None: the file says nothing
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a line cannot be imported, naming its line and column."""

    line: int
    column: str
    reason: str

    @property
    def text(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass(slots=True)
class RecordsFile:
    """What a file holds: the good rows, the refused lines, and notes (columns ignored)."""

    rows: list[RecordLine] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoding: str = "utf-8"


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a file people saved: BOMs first, then UTF-8, then Windows-1252.

    >>> decode_text("é".encode("cp1252"))
    ('é', 'windows-1252')
    """
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name), name
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined: Latin-1 reads all
        return data.decode("latin-1"), "latin-1"


def read_records(data: bytes, *, filename: str = "", kind: str | None = None) -> RecordsFile:
    """The records of a CSV or vCard file (vCard when it starts with ``BEGIN:VCARD`` or is
    named ``.vcf``); ``kind`` is the kind of rows that give none (vCards, a CSV without a
    ``kind`` column)."""
    text, encoding = decode_text(data)
    if filename.lower().endswith((".vcf", ".vcard")) or text.lstrip().upper().startswith(
        "BEGIN:VCARD"
    ):
        result = _read_vcards(text, kind=kind)
    else:
        result = _read_csv(text, kind=kind)
    result.encoding = encoding
    _refuse_repeated_addresses(result)
    return result


def _heading_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


def _sniff(text: str) -> str:
    header = text.splitlines()[0] if text else ""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in (",", ";", "\t")}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _read_csv(text: str, *, kind: str | None) -> RecordsFile:
    result = RecordsFile()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        result.problems.append(Problem(1, "name", "the file is empty (a header row is needed)"))
        return result
    columns: dict[str, int] = {}
    for index, heading in enumerate(header):
        key = _heading_key(heading)
        found = next((col for col, names in _HEADINGS.items() if key in names), None)
        if found and found not in columns:
            columns[found] = index
        elif heading.strip():
            result.notes.append(f"column {heading.strip()!r} ignored")
    given = ", ".join(h.strip() for h in header if h.strip())
    for needed in ("name", "email") + (() if kind else ("kind",)):
        if needed not in columns:
            result.problems.append(Problem(1, needed, f"no such column (the header has: {given})"))
    if result.problems:
        return result
    line = 1
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue

        def cell(name: str, cells: list[str] = cells) -> str | None:
            index = columns.get(name)
            if index is None:
                return None
            return cells[index].strip() if index < len(cells) else ""

        _add_row(
            result,
            line,
            kind=cell("kind") or kind or "",
            name=cell("name") or "",
            emails=cell("email") or "",
            exclude=cell("exclude"),
            external_id=cell("id"),
        )
    return result


def _add_row(
    result: RecordsFile,
    line: int,
    *,
    kind: str,
    name: str,
    emails: str,
    exclude: str | None,
    external_id: str | None,
) -> None:
    """Check one line's cells; a good line becomes a row, a bad one a problem."""
    kind_key = kind.strip().lower().rstrip("s")  # "Candidates" as well
    if kind_key not in KINDS:
        why = f"unknown kind {kind.strip()!r}" if kind.strip() else "no kind"
        result.problems.append(Problem(line, "kind", f"{why} ({', '.join(KINDS[:-1])} or contact)"))
        return
    name = " ".join(name.split())
    if not name:
        result.problems.append(Problem(line, "name", "no name"))
        return
    addresses: list[str] = []
    for part in _SPLIT.split(emails.strip()):
        part = part.strip().strip("<>").removeprefix("mailto:")
        if not part:
            continue
        if not _ADDRESS.match(part):
            result.problems.append(Problem(line, "email", f"{part!r} is not an address"))
            return
        normalized = normalize_address(part)
        if normalized not in addresses:
            addresses.append(normalized)
    if not addresses:
        result.problems.append(Problem(line, "email", "no address"))
        return
    flag: bool | None = None
    if exclude and exclude.strip():  # an empty cell says nothing: a flag set by hand stays
        word = exclude.strip().lower()
        if word in _TRUE:
            flag = True
        elif word in _FALSE:
            flag = False
        else:
            result.problems.append(
                Problem(line, "exclude", f"{exclude.strip()!r} is not yes/no, true/false or 1/0")
            )
            return
    result.rows.append(
        RecordLine(
            line=line,
            kind=kind_key,
            name=name,
            emails=tuple(addresses),
            exclude=flag,
            external_id=(external_id or "").strip() or None,
        )
    )


def _refuse_repeated_addresses(result: RecordsFile) -> None:
    """An address on two lines (other than one record's lines, by id) is refused on the later
    line: which record it belongs to is the person's call, not ours."""
    seen: dict[str, RecordLine] = {}
    ids: dict[str, RecordLine] = {}
    kept: list[RecordLine] = []
    for row in result.rows:
        if row.external_id and row.external_id in ids:
            first = ids[row.external_id]
            result.problems.append(
                Problem(row.line, "id", f"{row.external_id!r} is also on line {first.line}")
            )
            continue
        clash = next((a for a in row.emails if a in seen), None)
        if clash is not None:
            result.problems.append(
                Problem(row.line, "email", f"{clash} is also on line {seen[clash].line}")
            )
            continue
        for address in row.emails:
            seen[address] = row
        if row.external_id:
            ids[row.external_id] = row
        kept.append(row)
    result.rows = kept
    result.problems.sort(key=lambda p: p.line)


# vCard (RFC 6350, and the 2.1 that Outlook and phones still export)


def _unfold(text: str) -> list[tuple[int, str]]:
    """Content lines with their line numbers: folded lines joined, quoted-printable soft
    breaks joined."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + raw[1:])
        elif out and out[-1][1].endswith("=") and "QUOTED-PRINTABLE" in out[-1][1].upper():
            out[-1] = (out[-1][0], out[-1][1][:-1] + raw)
        elif raw.strip():
            out.append((number, raw))
    return out


def _vcard_value(params: list[str], value: str) -> str:
    upper = [p.upper() for p in params]
    if "ENCODING=QUOTED-PRINTABLE" in upper or "QUOTED-PRINTABLE" in upper:
        charset = next((p.split("=", 1)[1] for p in params if p.upper().startswith("CHARSET=")), "")
        raw = quopri.decodestring(value.encode("latin-1", "replace"))
        try:
            return raw.decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            return raw.decode("cp1252", "replace")
    return re.sub(r"\\([,;:\\nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def _read_vcards(text: str, *, kind: str | None) -> RecordsFile:
    result = RecordsFile()
    card: dict[str, list[str]] | None = None
    start = 0
    for number, content in _unfold(text):
        name_part, _, value = content.partition(":")
        prop, *params = name_part.split(";")
        prop = prop.rpartition(".")[2].upper()  # "item1.EMAIL" (Apple's groups)
        if prop == "BEGIN" and value.strip().upper() == "VCARD":
            card, start = {}, number
            continue
        if card is None:
            continue
        if prop == "END" and value.strip().upper() == "VCARD":
            _add_vcard(result, start, card, kind)
            card = None
            continue
        card.setdefault(prop, []).append(_vcard_value(params, value))
    if card is not None:
        result.problems.append(Problem(start, "vcard", "no END:VCARD"))
    return result


def _add_vcard(
    result: RecordsFile, line: int, card: dict[str, list[str]], kind: str | None
) -> None:
    name = (card.get("FN") or [""])[0]
    if not name.strip() and card.get("N"):
        family, given, *_ = (card["N"][0].split(";") + ["", ""])[:2]
        name = f"{given} {family}"
    categories = [
        c.strip().lower().rstrip("s") for v in card.get("CATEGORIES", []) for c in v.split(",")
    ]
    card_kind = next((c for c in categories if c in KINDS), None) or kind or "contact"
    _add_row(
        result,
        line,
        kind=card_kind,
        name=name,
        emails=" ".join(card.get("EMAIL", [])),
        exclude=None,
        external_id=next(iter(card.get("UID", [])), None),
    )

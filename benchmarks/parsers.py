"""Whole-message parsing for the import: the `email` package (what primsync stores) against
fast-mail-parser (a compiled wheel built on a Rust MIME parser), on the shared corpus and on the
benchmark mailbox: how many messages give the same stored result, and how fast each parses.

    python3 benchmarks/parsers.py [--corpus ../shared/corpus] [--messages 2000]

"The same" is what the import stores: the text body, the HTML body, and the attachments' names,
types and sha256. fast-mail-parser reports no per-message defects, so a defect note could not be
kept for it either way. Prints figures; adopts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.mailbox import build_messages  # noqa: E402
from primsync.parse import parse_message  # noqa: E402


def ours(raw: bytes) -> tuple:
    body = parse_message(raw)
    parts = sorted((p.filename, p.content_type, hashlib.sha256(p.content).hexdigest())
                   for p in body.parts)  # fmt: skip
    return body.text.strip(), body.html.strip(), parts


def theirs(fmp, raw: bytes) -> tuple:  # type: ignore[no-untyped-def]
    mail = fmp.parse_email(raw)
    text = (mail.text_plain[0] if mail.text_plain else "").replace("\r\n", "\n").strip()
    html = (mail.text_html[0] if mail.text_html else "").strip()
    parts = sorted((a.filename, a.mimetype, hashlib.sha256(bytes(a.content)).hexdigest())
                   for a in mail.attachments)  # fmt: skip
    return text, html, parts


def compare(fmp, name: str, raws: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    same, refused, differ = 0, Counter(), Counter()
    for raw in raws:
        try:
            other = theirs(fmp, raw)
        except Exception as exc:  # noqa: BLE001 (what it refuses is a figure here)
            refused[type(exc).__name__] += 1
            continue
        mine = ours(raw)
        if mine == other:
            same += 1
        else:
            differ[",".join(w for w, a, b in zip(("text", "html", "attachments"), mine, other,
                                                  strict=True) if a != b)] += 1  # fmt: skip
    print(f"{name}: {len(raws)} messages: the same {same}, different {sum(differ.values())} "
          f"{dict(differ)}, refused {sum(refused.values())} {dict(refused)}")  # fmt: skip

    def fast(raw: bytes) -> object:
        try:
            return fmp.parse_email(raw)
        except Exception:  # noqa: BLE001 (the fallback, as it would be used)
            return parse_message(raw)

    rounds = max(1, 4000 // max(len(raws), 1))
    timings = {}
    for label, parse in (("email", parse_message), ("fast-mail-parser", fast)) * 2:
        started = time.perf_counter()
        for _ in range(rounds):
            for raw in raws:
                parse(raw)
        timings[label] = (time.perf_counter() - started) / (rounds * len(raws))
    print(f"  email package {timings['email'] * 1e6:.0f} us a message, fast-mail-parser "
          f"{timings['fast-mail-parser'] * 1e6:.0f} us "
          f"({timings['email'] / timings['fast-mail-parser']:.1f}x faster)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=os.environ.get("PRIMSYNC_CORPUS",
                                                           str(ROOT.parent / "shared" / "corpus")))
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    try:
        import fast_mail_parser as fmp
    except ImportError:
        print("fast-mail-parser is not installed: python3 -m pip install fast-mail-parser")
        return 2
    corpus = Path(args.corpus)
    if corpus.is_dir():
        files = sorted(p for p in corpus.rglob("*") if p.is_file() and "LICENSE" not in p.name
                       and p.suffix.lower() not in (".md", ".txt"))  # fmt: skip
        compare(fmp, f"shared corpus ({corpus})", [p.read_bytes() for p in files])
    else:
        print(f"no corpus at {corpus}: skipped")
    messages, _, _ = build_messages(args.messages)
    compare(fmp, "benchmark mailbox", [raw for raw, _ in messages])
    return 0


if __name__ == "__main__":
    sys.exit(main())

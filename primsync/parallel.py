"""A large header fetch, or a large import's fetch, shared with a helper process.

Reading and parsing 50,000 header blocks is Python work on one core, while the machine has
more. From ``HELPER_MIN`` UIDs on (``IMPORT_HELPER_MIN`` for an import), the upper half of a
folder's UIDs goes to a forked helper process with its own IMAP session; it parses its half
(into a frame, or message bodies) and sends it back. The helper never touches the database
(the parent's connections are not safe to share across a fork). Where
``fork`` is not available (Windows, macOS), with ``PRIMSYNC_FETCH_HELPER=0``, or when the helper
fails for any reason, this process fetches everything itself: the helper only ever saves time.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import pickle
import select
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import pandas as pd
from tqdm.auto import tqdm

from primsync.frame import FetchedFolder, build_frame, gc_paused
from primsync.imap import Mailbox, Progress, report_progress
from primsync.parse import Body, parse_message
from primsync.wire import RawMessage

__all__ = [
    "HELPER_MIN",
    "IMPORT_HELPER_MIN",
    "header_frames",
    "helper_enabled",
    "parsed_messages",
]

HELPER_MIN = 8000  # UIDs from which a folder's header fetch is shared with a helper process
IMPORT_HELPER_MIN = 200  # messages from which an import's fetch and parse are shared
_POLL_SECONDS = 0.2
_PIPE_BUFFER = 1 << 20

log = logging.getLogger(__name__)


def helper_enabled() -> bool:
    """Linux (``fork``), at least two cores, and not switched off by PRIMSYNC_FETCH_HELPER=0."""
    if os.environ.get("PRIMSYNC_FETCH_HELPER", "1").strip() in ("0", "false", "no"):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return sys.platform.startswith("linux") and (cores or 1) >= 2


def header_frames(
    box: Mailbox,
    folder: str,
    uidvalidity: int,
    is_sent: bool,
    uids: Sequence[int],
    progress: Progress = False,
) -> Iterator[pd.DataFrame]:
    """The parsed frame of ``uids`` in the folder ``box`` has selected, in pieces in UID
    order (one, or two with a helper): with a helper, this process's half comes
    first, and the caller can work on it (enrich it) while the helper finishes the other.
    (The helper could enrich its half too, saving about 0.15 s of 3 for 50,000 messages,
    but its memory would grow by a third: measured, and left.)"""

    def job(session: Mailbox, some: list[int], report: Progress) -> pd.DataFrame:
        messages = session.fetch_headers(some, progress=report)  # parsed as they arrive
        return build_frame([FetchedFolder(folder, uidvalidity, is_sent, messages)])

    if len(uids) < HELPER_MIN or not box.can_twin or not helper_enabled():
        with gc_paused():
            frame = job(box, list(uids), progress)
        yield frame
    else:
        yield from _shared(box, sorted(set(uids)), job, folder, progress)


def parsed_messages(
    box: Mailbox,
    uids: Sequence[int],
    sizes: dict[int, int] | None = None,
    progress: Progress = False,
) -> Iterator[tuple[RawMessage, Body]]:
    """Whole messages of the selected folder, each with its parsed body (the import's reading):
    from ``IMPORT_HELPER_MIN`` UIDs on, half of them fetched and parsed by a helper."""
    uids = sorted(set(uids))

    def job(session: Mailbox, some: list[int], report: Progress) -> list:
        # the body's bytes are not sent back: the import needs the parsed body and the size
        return [
            (RawMessage(raw.uid, b"", raw.flags, raw.received, raw.size), parse_message(raw.data))
            for raw in session.fetch_full(some, sizes=sizes, progress=report)
        ]

    if len(uids) < IMPORT_HELPER_MIN or not box.can_twin or not helper_enabled():
        for raw in box.fetch_full(uids, sizes=sizes, progress=progress):
            yield raw, parse_message(raw.data)
        return
    for piece in _shared(box, uids, job, box.folder or "import", progress):
        yield from cast("list[tuple[RawMessage, Body]]", piece)


def _shared(
    box: Mailbox, uids: list[int], job: Job, label: str, progress: Progress
) -> Iterator[object]:
    """``job`` over the lower half of ``uids`` here and the upper half in a helper: this
    process's result first (the caller works on it while the helper finishes), then the
    helper's, or, if the helper failed, the job run here on its half."""
    half = len(uids) // 2
    mine, theirs = uids[:half], uids[half:]
    bar = tqdm(total=len(uids), unit="msg", desc=label, leave=False) if progress is True else None
    helper = _Helper(box, theirs, job)

    def report(done: int, _total: int = 0, *, helper_done: int | None = None) -> None:
        both = done + (helper.done if helper_done is None else helper_done)
        report_progress(bar, progress, both, len(uids))

    try:
        with gc_paused():
            own = job(box, mine, report)
        yield own
        del own
        with gc_paused():
            other = helper.result(lambda: report(len(mine)))
            if other is None:  # the helper failed: run its half here
                other = job(box, theirs, lambda d, _t: report(len(mine), helper_done=d))
        report(len(mine), helper_done=len(theirs))
        yield other
    finally:
        helper.stop()
        if bar is not None:
            bar.close()


Job = Callable[[Mailbox, list[int], Progress], object]


class _Helper:
    """One forked process running ``job(twin, uids, progress)`` on a second session of the
    account, its result pickled straight into a pipe (no whole copy in either process)."""

    def __init__(self, box: Mailbox, uids: list[int], job: Job):
        context = multiprocessing.get_context("fork")
        self._read, write = os.pipe()
        self._count = context.Value("q", 0, lock=False)
        self._process = context.Process(
            target=_work,
            args=(box, uids, job, self._read, write, self._count),
            daemon=True,
            name="primsync-fetch-helper",
        )
        with warnings.catch_warnings():
            # Python 3.12+ warns when a process with threads forks (a Jupyter kernel has some):
            # the helper only opens its own connection and parses: it takes no lock another
            # thread could hold (logging re-creates its locks at fork)
            warnings.filterwarnings(
                "ignore",
                message=".*use of fork\\(\\) may lead to deadlocks",
                category=DeprecationWarning,
            )
            self._process.start()
        os.close(write)  # the parent keeps only the reading end: EOF when the helper ends

    @property
    def done(self) -> int:
        return int(self._count.value)

    def result(self, tick: Callable[[], None]) -> object | None:
        """The job's result; None (and a log line) when it failed."""
        try:
            while not select.select([self._read], [], [], _POLL_SECONDS)[0]:
                tick()
            with os.fdopen(self._read, "rb", buffering=_PIPE_BUFFER, closefd=False) as source:
                outcome = pickle.load(source)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            log.warning("fetch helper ended without an answer (%r); fetching here", exc)
            return None
        if outcome[0] != "ok":
            log.warning("fetch helper failed (%s); fetching here", outcome[1])
            return None
        return outcome[1]

    def stop(self) -> None:
        os.close(self._read)
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _work(box: Mailbox, uids: list[int], job: Job, read: int, write: int, count: Any) -> None:
    """In the helper: a session of its own, the job, its result sent back."""
    os.close(read)
    started = time.perf_counter()
    gc.disable()  # many small objects, no cycles: the collector's passes would only cost time
    try:
        twin = box.twin()
        try:
            answer = ("ok", job(twin, uids, lambda d, _t: setattr(count, "value", d)))
        finally:
            twin.close()
    except BaseException as exc:  # told to the parent, which then does the work itself
        answer = ("error", f"{type(exc).__name__}: {exc}")
    with os.fdopen(write, "wb", buffering=_PIPE_BUFFER) as sink:
        pickle.dump(answer, sink, protocol=pickle.HIGHEST_PROTOCOL)
    log.debug("fetch helper: %d UIDs in %.2f s", len(uids), time.perf_counter() - started)

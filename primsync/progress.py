"""Progress of long work (a folder's FETCH, an import's full messages), as people expect it.

The IMAP layer only reports ``(done, total)`` to a callback; here ``progress=True`` becomes a
tqdm bar (a text bar in a terminal, a widget in a notebook), a callable receives the counts
itself, and ``False`` shows nothing.

>>> seen = []
>>> with reporter(lambda done, total: seen.append((done, total)), "INBOX") as report:
...     report(500, 1000)
>>> seen
[(500, 1000)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Progress", "ProgressCallback", "reporter"]

ProgressCallback = Callable[[int, int], None]
Progress = bool | ProgressCallback  # True: a tqdm bar; a callable: (done, total); False: nothing


@contextmanager
def reporter(progress: Progress, desc: str) -> Iterator[ProgressCallback | None]:
    """The callback that shows ``progress`` for the work named ``desc``, open for the block."""
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=0, unit="msg", desc=desc, leave=False)

        def report(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            yield report
        finally:
            bar.close()
    elif callable(progress):
        yield progress
    else:
        yield None

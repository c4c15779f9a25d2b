"""Where a review's time goes: one review with its steps timed (benchmarks/run.py prints it
beside the goals, so that a goal missed comes with its profile: of `--repeat` reviews so
timed, the one whose whole is the median).

The steps are timed by wrapping the functions the review calls, not by a profiler: cProfile
counts every call of the per-message functions and doubles the time they seem to take. Two
wrappers are called once a message (the FETCH stream's next message, the parse of its header
block): about 1 us a message in all, which ``other`` holds.

>>> line({"sign-in": 0.1, "other": 0.05}, 0.2)
'sign-in 0.100 + other 0.050 of 0.200 s'
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import wraps
from typing import Any
from unittest import mock

# (what the step is called, the module or class, the attribute wrapped), in the review's order
CALLS = (
    ("sign-in", "primsync.review", "open_mailbox"),
    ("SELECT, SEARCH", "primsync.imap.Mailbox", "select"),
    ("SELECT, SEARCH", "primsync.imap.Mailbox", "search"),
    ("contacts read", "primsync.review._Pieces", "contacts"),
    ("enrichment", "primsync.review._Pieces", "enrich"),
    ("ids learned from Sent", "primsync.review", "learn_from_sent"),
    ("probable replies", "primsync.review", "find_probable_replies"),
)
PER_MESSAGE = (
    ("header fields", "primsync.frame", "parse_headers"),
    ("header fields", "primsync.frame", "parse_wanted_headers"),
)
STEPS = (
    "sign-in",
    "SELECT, SEARCH",
    "FETCH answer read",
    "header fields",
    "frame",
    "contacts read",
    "enrichment",
    "ids learned from Sent",
    "probable replies",
    "other",
)


def _owner(dotted: str) -> Any:
    """The module, or the class in a module, that ``dotted`` names."""
    try:
        return importlib.import_module(dotted)
    except ImportError:
        module, _, name = dotted.rpartition(".")
        return getattr(importlib.import_module(module), name)


@contextmanager
def timed_steps() -> Iterator[dict[str, float]]:
    """While open, the review's steps add their own seconds to the dict it gives: a step's
    time less that of the steps it calls (``frame``: :func:`~primsync.frame.build_frame` less
    the FETCH read and the header fields it asks for)."""
    spent: dict[str, float] = dict.fromkeys(STEPS[:-1], 0.0)
    timed = [0.0]  # the seconds given to any step so far
    clock = time.perf_counter

    def run(step: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        before, started = timed[0], clock()
        try:
            return function(*args, **kwargs)
        finally:
            own = clock() - started - (timed[0] - before)
            spent[step] += own
            timed[0] += own

    def wrapped(step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            return run(step, function, *args, **kwargs)

        return call

    def stream(function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        @wraps(function)
        def call(*args: Any, **kwargs: Any) -> Iterator[Any]:
            messages = function(*args, **kwargs)
            while True:
                try:
                    message = run("FETCH answer read", next, messages)
                except StopIteration:
                    return
                yield message

        return call

    with ExitStack() as stack:
        for step, where, name in (
            *CALLS,
            *PER_MESSAGE,
            ("frame", "primsync.review", "build_frame"),
        ):
            owner = _owner(where)
            stack.enter_context(mock.patch.object(owner, name, wrapped(step, getattr(owner, name))))
        mailbox = _owner("primsync.imap.Mailbox")
        stack.enter_context(
            mock.patch.object(mailbox, "fetch_headers", stream(mailbox.fetch_headers))
        )
        yield spent


def review_steps(review: Callable[[], object]) -> tuple[dict[str, float], float]:
    """``review`` run once with its steps timed: the seconds of each step (``other``: the whole
    less the steps) and the whole."""
    with timed_steps() as spent:
        started = time.perf_counter()
        review()
        whole = time.perf_counter() - started
    steps = {step: spent.get(step, 0.0) for step in STEPS[:-1]}
    other = whole - sum(steps.values())
    if other < -1e-6:  # each step's own time lies inside the whole: none is counted twice
        raise AssertionError(f"the steps' times overlap: {line(steps, whole)}")
    steps["other"] = max(0.0, other)
    return steps, whole


def line(steps: dict[str, float], whole: float) -> str:
    """The steps that took a millisecond or more, in the review's order."""
    shown = [f"{step} {seconds:.3f}" for step, seconds in steps.items() if seconds >= 0.0005]
    return " + ".join(shown) + f" of {whole:.3f} s"

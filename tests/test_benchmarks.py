"""The benchmarks run end to end at a tiny size (a smoke test: no time is asserted)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.steps import STEPS
from tests.conftest import ROOT


def test_benchmarks_run_at_a_tiny_size(dovecot, tmp_path):
    """Two sizes (as `--messages 5000,50000,500000` is run), half the mail from strangers."""
    results = tmp_path / "RESULTS.md"
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--messages", "150,300",
         "--match-rows", "500", "--import-messages", "20", "--repeat", "1",
         "--write-results", str(results)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for goal in ("review 150 messages, compressed", "review 150 messages, not compressed",
                 "primsync review --format json", "its parts, timed inside a process",
                 "primsync --help", "re-sync, nothing new",
                 "match 500 rows", "import 20 messages in full, compressed",
                 "peak memory, 150-message review", "peak memory, `primsync review` of 300",
                 "review 300 messages, compressed", "scale: review per message, 300",
                 "scale: command per message, 300",
                 "scale: peak memory, command, 300"):  # fmt: skip
        assert goal in out.stdout
    dropped = [line for line in out.stdout.splitlines() if "dropped: senders on no record" in line]
    assert len(dropped) == 2
    assert all(30 < float(line.split()[5].rstrip("%")) < 70 for line in dropped), dropped
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--messages",
                          "5000,lots"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "not a size or a list of sizes: '5000,lots'" in bad.stderr
    resync = next(line for line in out.stdout.splitlines() if line.startswith("re-sync"))
    assert " met" in resync.split("target")[1]  # round trips are counted, not timed
    assert "| goal | figure |" in results.read_text()
    # the review's profile, one line a size: its steps add up to the review they timed
    profiles = [line for line in out.stdout.splitlines() if "where the review's time goes" in line]
    assert len(profiles) == 2, out.stdout
    for profile in profiles:
        steps = [s.strip() for s in profile.split("goes", 1)[1].split(" of ")[0].split(" + ")]
        names = [s.rsplit(" ", 1)[0] for s in steps]
        assert {"sign-in", "FETCH answer read", "header fields", "enrichment"} <= set(names)
        assert names == [s for s in STEPS if s in names]  # the review's order, each once
        whole = float(profile.split(" of ")[1].split()[0])
        assert abs(sum(float(s.rsplit(" ", 1)[1]) for s in steps) - whole) <= 0.001 * len(STEPS)


def test_the_benchmarks_measure_across_a_shaped_link(dovecot):
    """--link: the link checks its own shaping (10 MB within 10 %), then every figure and its
    baseline go through it."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--messages", "120",
         "--match-rows", "200", "--import-messages", "10", "--repeat", "1", "--link", "home"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("link home: 10 MB in ")
    assert "review 120 messages, compressed" in out.stdout and "import 10 messages" in out.stdout
    assert "match" not in out.stdout  # no network in it: measured on loopback only


def test_the_grid_benchmark_runs_at_a_tiny_size():
    """benchmarks/grid.py end to end (JupyterLab in Chromium) on 60 messages: figures, no limit."""
    import os
    from pathlib import Path

    import pytest

    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed: .ci/run must install it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grid.py"), "--messages", "60"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for figure in ("review, in-process (baseline)", "Synchronize -> first rows painted",
                   "a tick (plain click) on the row", "... and counted by the kernel",
                   "Tick all yellow: rows and counts",
                   "the heading's box: all rows ticked"):  # fmt: skip
        assert figure in out.stdout


def test_the_agency_benchmark_runs_at_a_tiny_size():
    """benchmarks/agency.py end to end (its own Dovecot and PostgreSQL, `sync --all` and a
    worker) on 6 mailboxes: figures, no limit; nothing lost or stored twice."""
    import os

    import pytest

    from tests.servers import DovecotServer, PostgresServer

    if DovecotServer.binary() is None or PostgresServer.bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("Dovecot and PostgreSQL must be installed: .ci/run installs them")
        pytest.skip("Dovecot or PostgreSQL is not installed")
    pytest.importorskip("procrastinate")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "agency.py"), "--mailboxes", "6",
         "--workers", "1", "--initial", "2", "--new-share", "0.5", "--new-each", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if "nothing new" in line or " new " in line]
    assert [r.split()[0] for r in rows] == ["sync", "sync", "1", "1"], out.stdout
    assert out.stdout.count("nothing lost, nothing twice") == 2, out.stdout
    assert "stored 24 messages, 24 distinct, 24 planted" in out.stdout  # 12 + 6 + 6

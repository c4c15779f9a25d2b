"""The benchmarks run end to end at a tiny size (a smoke test: no time is asserted)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_benchmarks_run_at_a_tiny_size(dovecot, tmp_path):
    results = tmp_path / "RESULTS.md"
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--messages", "150",
         "--match-rows", "500", "--import-messages", "20", "--repeat", "1",
         "--write-results", str(results)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    for goal in ("full review throughput", "re-sync, nothing new", "match 500 rows",
                 "import 20 messages in full", "peak memory"):  # fmt: skip
        assert goal in out.stdout
    assert "| goal | figure |" in results.read_text()

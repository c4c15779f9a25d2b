"""The tests' way to run a long-lived primsync command (demo, app, worker), read what it prints
and stop it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def running(argv: list[str], **popen: object) -> Iterator[subprocess.Popen]:
    """``argv`` started with its output readable (text); Ctrl-C at the end, killed if it does
    not stop within 30 s."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **popen)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()


def printed_address(process: subprocess.Popen, label: str, lines: int = 200) -> str | None:
    """The address on the line ``LABEL: address`` the process prints first (``App``,
    ``JupyterLab``), reading at most ``lines`` lines; None if none came."""
    for _ in range(lines):
        line = process.stdout.readline()
        if line.startswith(f"{label}: "):
            return line.split(": ", 1)[1].strip()
        if not line:
            return None
    return None


def stop(*processes: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to each process still running (jobs in progress finish), then wait; killed if
    one has not stopped within ``timeout`` seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

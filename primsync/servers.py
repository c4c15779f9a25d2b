"""Local servers primsync starts on loopback: the demo's pymap mailbox, and the helpers to wait
for one (JupyterLab too). Dovecot and PostgreSQL for tests and benchmarks live in
``tests/servers.py`` (not part of the package).

>>> with PymapServer(user="demo", password="demo") as server:   # doctest: +SKIP
...     print(server.port)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

from primsync.errors import ServiceError

__all__ = ["PymapServer", "Server", "detached", "free_port", "run_pymap", "wait_for_port"]


def run_pymap() -> None:
    """pymap's own ``main`` (its arguments from ``sys.argv``), on any system: where the event
    loop cannot take signal handlers (Windows' loop raises NotImplementedError), pymap runs
    without them — primsync stops the demo mailbox by ending its process."""
    import asyncio.events

    from pymap.main import main

    make = asyncio.events.new_event_loop

    def new_event_loop() -> asyncio.AbstractEventLoop:
        loop = make()
        add = loop.add_signal_handler

        def add_signal_handler(sig: int, callback: Any, *args: Any) -> None:
            try:
                add(sig, callback, *args)
            except (NotImplementedError, AttributeError, RuntimeError, ValueError):
                pass  # no signal handling here: the process is ended from outside

        setattr(loop, "add_signal_handler", add_signal_handler)  # noqa: B010 - an instance's
        return loop

    asyncio.events.new_event_loop = new_event_loop
    main()


def detached() -> dict[str, Any]:
    """Popen's options that keep a child out of the terminal's Ctrl-C (primsync stops it
    itself): a session of its own on POSIX, a process group of its own on Windows."""
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    *,
    timeout: float = 15.0,
    process: subprocess.Popen | None = None,
    name: str = "the server",
) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port`` (``name`` says what, in
    the :class:`ServiceError` raised when it exits or never answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{name} on port {port} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceError(f"{name} did not answer on 127.0.0.1:{port} after {timeout:.0f} s")


class Server:
    """A program run in the background; a context manager that starts and stops it."""

    process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


class PymapServer(Server):
    """pymap's in-memory ``dict`` backend on a loopback port: no root, no apt, about 1k msg/s."""

    def __init__(self, *, user: str, password: str, port: int | None = None):
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.host = "127.0.0.1"

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-c",
            "from primsync.servers import run_pymap; run_pymap()",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--no-tls",
            "dict",
            "--demo-user",
            self.user,
            "--demo-password",
            self.password,
        ]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **detached()
        )
        wait_for_port(self.port, process=self.process, timeout=30, name="the demo mailbox (pymap)")


def quiet_lab_config(folder: Path) -> Path:
    """A Jupyter configuration folder under ``folder`` (for ``$JUPYTER_CONFIG_DIR``) whose
    JupyterLab asks nothing on its first start (no news pop-up): the demo, the pictures and
    the browser tests see only the page."""
    config = folder / "jupyter-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    return config

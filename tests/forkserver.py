"""``primsync`` for the tests, without paying its third-party imports in every command.

A command the tests start costs ~1 CPU-s before it does anything: pandas, pyarrow, numpy,
SQLAlchemy and Alembic being imported (~330 commands a run of the suite). Each xdist worker
starts one server (``python -m tests.forkserver --serve SOCKET``) that imports those libraries
once, then forks a child per command. The tests run the command line as
``[*PRIMSYNC, *args]`` (conftest): a small client, started as any command is, hands the server
its argument list, environment, working folder and its three standard descriptors; the forked
child takes them as its own and runs ``primsync.cli`` as ``python -m primsync.cli`` runs it
(``runpy``, ``__main__``), exiting through the interpreter (atexit, flushing); the client exits
with the child's code or dies of its signal, and forwards the signals it gets (Ctrl-C) to the
child. So a test still sees a process: its exit code, its output, its standard input, its
folder. primsync's own modules that the commands share (the models, the review, the import,
the sync: ~0.2 s) are imported by the server too; ``primsync.cli`` itself is run afresh in every
child, as ``python -m`` runs it.

What differs from a fresh interpreter, and how the tests keep it honest:

- the libraries above and those modules of primsync are already imported: a module of
  primsync that used one of their submodules without importing it would pass here. Commands
  are also run as fresh interpreters by the README walk, the install and package tests and
  every long-lived command (demo, app, worker);
- a child whose command ends with a usage error (argparse's SystemExit) ends through
  ``primsync.cli.leave`` as every command does, without the interpreter's teardown;
- what the libraries allocated as they were imported is frozen out of the garbage collector
  (``gc.freeze``), so a child's collections are quicker than a fresh process's;
- a command whose environment changes what the interpreter reads when it starts (``PYTHON*``
  but keyring's ``PYTHON_KEYRING_BACKEND``, the locale, ``TZ``) is run as a fresh interpreter
  (the client ``exec``s ``python -m primsync.cli``), as is every command where there is no
  server (``PRIMSYNC_TEST_FORKSERVER`` unset, or ``PRIMSYNC_TEST_FORK=0`` given to pytest).

Only the standard library is imported at the top: the client starts in ~20 ms.
"""

import contextlib
import json
import os
import signal
import socket
import sys

SOCKET_VARIABLE = "PRIMSYNC_TEST_FORKSERVER"
# what a test runs for ``primsync ARGS``: ``[*PRIMSYNC, *ARGS]`` (the client: -I -S, the standard
# library only, so its own start-up is not what is saved)
PRIMSYNC = [sys.executable, "-I", "-S", os.path.abspath(__file__)]
FRESH = [sys.executable, "-m", "primsync.cli"]  # what the client falls back to
# the libraries every command imports, heaviest first; nothing that reads the environment when
# imported (keyring chooses its backend when first asked, not when imported)
PRELOAD = (
    "numpy", "pyarrow", "pandas", "sqlalchemy", "sqlalchemy.orm", "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql", "psycopg", "alembic", "alembic.command", "imapclient",
    "keyring", "email.parser", "email.policy",
)
# primsync's modules that most commands load (none reads the environment or starts anything when
# imported; caches start empty in each child as in a fresh process): primsync.cli is not among
# them, runpy runs it as __main__ in the child
PRELOAD_OURS = (
    "primsync.cli_accounts", "primsync.cli_people", "primsync.db.models", "primsync.db.accounts",
    "primsync.db.engine", "primsync.opening", "primsync.review", "primsync.commit", "primsync.sync",
)


def _startup_environment(env: dict[str, str]) -> dict[str, str]:
    """The variables the interpreter reads as it starts (or a library as it is imported)."""
    return {k: v for k, v in env.items()
            if (k.startswith("PYTHON") and k != "PYTHON_KEYRING_BACKEND")
            or k.startswith("LC_") or k in ("LANG", "LANGUAGE", "TZ")}


# --- the client: what a test starts ---------------------------------------------------------

def _fresh_interpreter(argv: list[str]) -> None:
    os.execv(FRESH[0], [*FRESH, *argv])


def client(argv: list[str]) -> None:
    path = os.environ.pop(SOCKET_VARIABLE, None)
    if not path:
        _fresh_interpreter(argv)
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server.connect(path)
    except OSError:
        _fresh_interpreter(argv)
    request = {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}
    socket.send_fds(server, [json.dumps(request).encode()], [0, 1, 2])
    answer = server.recv(64)
    if not answer.isdigit():  # the server says this one needs a fresh interpreter
        server.close()
        _fresh_interpreter(argv)
    child = int(answer)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(number, lambda n, _frame: os.kill(child, n))
    status = server.recv(64)
    if not status:
        sys.stderr.write("tests.forkserver: the server went away before the command ended\n")
        os._exit(255)
    code = os.waitstatus_to_exitcode(int(status))
    if code < 0:  # died of a signal: so does the client, as the command's process would
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


# --- the server: one per xdist worker -------------------------------------------------------

def _become(request: dict, fds: list[int], keep_open: list) -> None:
    """In the forked child: take the client's descriptors, folder and environment, then run
    primsync.cli as ``python -m`` does. Returns only by an exception (SystemExit at the end)."""
    import io
    import runpy
    import tempfile
    import time

    for thing in keep_open:
        thing.close()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    tempfile.tempdir = None
    # the standard streams as the interpreter makes them at start-up, on the new descriptors
    # (unbuffered output where the server's start-up environment, which is the child's, asks
    # it: PYTHONUNBUFFERED)
    streams = []
    unbuffered = bool(request["env"].get("PYTHONUNBUFFERED"))  # the server's, as checked
    for fd, mode, model in ((0, "rb", sys.__stdin__), (1, "wb", sys.__stdout__),
                            (2, "wb", sys.__stderr__)):
        raw = io.FileIO(fd, mode, closefd=False)
        tty = raw.isatty()
        binary: io.RawIOBase | io.BufferedIOBase
        if fd == 0:
            binary = io.BufferedReader(raw)
        else:
            binary = raw if unbuffered else io.BufferedWriter(raw)
        streams.append(io.TextIOWrapper(binary, encoding=model.encoding, errors=model.errors,
                                        line_buffering=tty or fd == 2,
                                        write_through=unbuffered and fd != 0))
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams
    sys.argv = ["-m", *request["argv"]]
    sys.path[0] = request["cwd"]
    try:
        runpy._run_module_as_main("primsync.cli", alter_argv=True)  # type: ignore[attr-defined]
        code = 0
    except SystemExit as stop:
        if stop.code is not None and not isinstance(stop.code, int):
            raise  # a message to print: the interpreter's own way
        code = stop.code or 0
    # primsync.cli's own end (a command ends there already; a usage error, which argparse
    # raises as SystemExit, ends here): without the interpreter's teardown, which in a child
    # would touch, and so copy from the server, every page the preloaded libraries hold
    sys.modules["__main__"].leave(code)


def serve(path: str) -> None:
    import importlib
    import selectors

    # no thread started by an import: a process with threads is forked at some risk (and Python
    # 3.12+ warns). numpy's OpenBLAS starts its pool when imported; pyarrow's jemalloc a
    # background thread. Read once, as the libraries load: the children's environment is the
    # client's, not this.
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    os.environ["JE_ARROW_MALLOC_CONF"] = "background_thread:false"
    for name in (*PRELOAD, *PRELOAD_OURS):
        importlib.import_module(name)
    import gc
    import threading

    assert threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1, (
        "a preloaded library started a thread: forking would be unsafe")
    # what the libraries made is left out of the children's collections (a full collection
    # would walk and copy every page of it: 0.9 CPU-s a command)
    gc.freeze()
    startup = _startup_environment(dict(os.environ))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker's Ctrl-C is for the worker
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "reap")
    selector.register(sys.stdin, selectors.EVENT_READ, "parent")  # EOF: the worker is gone
    connections: dict[int, socket.socket] = {}  # child pid -> its client
    log = open(f"{path}.log", "a", buffering=1)  # each request: forked PID, or fresh (why)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
            elif key.data == "accept":
                conn, _ = listener.accept()
                conn.settimeout(10)  # a client sends at once; one that died first is let go
                try:
                    message, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
                    request = json.loads(message)
                except (OSError, ValueError):
                    conn.close()
                    continue
                if _startup_environment(request["env"]) != startup or len(fds) != 3:
                    log.write(f"fresh - {json.dumps(request['argv'])}\n")
                    for fd in fds:
                        os.close(fd)
                    with contextlib.suppress(OSError):
                        conn.send(b"fresh")
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    _become(request, fds, [selector, listener, conn, *connections.values(), log,
                                           _Fd(wake_read), _Fd(wake_write)])
                for fd in fds:
                    os.close(fd)
                log.write(f"forked {pid} {json.dumps(request['argv'])}\n")
                connections[pid] = conn
                try:
                    conn.send(str(pid).encode())
                except OSError:  # the client is gone already: so goes its command
                    os.kill(pid, signal.SIGKILL)
                    continue
                selector.register(conn, selectors.EVENT_READ, pid)
            elif key.data == "reap":  # a child ended: reaped below, as after every event
                os.read(wake_read, 4096)
            else:  # a client closed its end (killed on a timeout): so goes its command
                with contextlib.suppress(ProcessLookupError):
                    os.kill(key.data, signal.SIGKILL)
                selector.unregister(key.fileobj)
        _reap(connections, selector)


def _reap(connections: dict[int, socket.socket], selector) -> None:
    while connections:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = connections.pop(pid, None)
        if conn is None:
            continue
        with contextlib.suppress(KeyError):
            selector.unregister(conn)
        with contextlib.suppress(OSError):
            conn.send(str(status).encode())
        conn.close()


class _Fd:
    """A bare descriptor with the close() of a file."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        client(sys.argv[1:])

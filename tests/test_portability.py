"""The package imports, and the command line starts, without POSIX-only modules (as on Windows,
where many analysts work); the tests' Dovecot and PostgreSQL launchers (tests/servers.py)
are not part of the package."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

POSIX_ONLY = ("pwd", "fcntl", "resource")

PROBE = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = set(sys.argv[1].split(","))

    import builtins

    real_import = builtins.__import__

    def windows_import(name, globals=None, locals=None, fromlist=(), level=0):
        # third-party libraries pick their own platform modules by sys.platform (and take
        # another path on Windows): only primsync's own imports are refused, cached or not
        importer = (globals or {}).get("__name__", "")
        if level == 0 and name.partition(".")[0] in BLOCKED and importer.startswith("primsync"):
            raise ModuleNotFoundError(f"{importer} imports {name!r}", name=name)
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = windows_import

    import primsync
    names = sorted(
        m.name for m in pkgutil.walk_packages(primsync.__path__, "primsync.")
        if ".migrations" not in m.name
    )
    for name in names:
        importlib.import_module(name)
    from primsync.cli import main
    try:
        main(["--help"])
    except SystemExit as done:
        assert done.code == 0
    print(len(names), "modules")
    """
)


def test_every_module_imports_without_posix_only_modules():
    out = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(POSIX_ONLY)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "usage: primsync" in out.stdout
    count = int(out.stdout.strip().splitlines()[-1].split()[0])
    assert count >= 25  # every module was walked, not an empty list


def test_the_posix_only_launchers_are_apart():
    servers = (ROOT / "primsync" / "servers.py").read_text()
    assert "import pwd" not in servers and "DovecotServer" not in servers
    assert "import fcntl" not in (ROOT / "primsync" / "db" / "locks.py").read_text()


def test_the_probe_catches_a_posix_only_import(tmp_path):
    (tmp_path / "primsync_probe_bad.py").write_text("import pwd\n")
    probe = PROBE.replace("import primsync\n", "import primsync, primsync_probe_bad\n")
    out = subprocess.run(
        [sys.executable, "-c", probe, ",".join(POSIX_ONLY)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode != 0
    assert "primsync_probe_bad imports 'pwd'" in out.stderr


def _imports(path) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_layers_as_the_data_flows():
    """docs/architecture.md: the database layer imports nothing of the IMAP side; imapclient
    enters through imap.py, its connection's life (link.py) and its connection class
    (connection.py) only, ipywidgets through widgets/ only."""
    package = ROOT / "primsync"
    imap_side = {"primsync.imap", "primsync.wire", "primsync.options", "primsync.parallel",
                 "primsync.review", "primsync.frame", "primsync.enrich", "primsync.link",
                 "primsync.connection", "primsync.deflate"}  # fmt: skip
    for path in (package / "db").rglob("*.py"):
        assert not _imports(path) & imap_side, path
    for path in package.rglob("*.py"):
        names = {name.partition(".")[0] for name in _imports(path)}
        if path.name not in ("imap.py", "link.py", "connection.py"):
            assert "imapclient" not in names, path
        if "widgets" not in path.parts:
            assert "ipywidgets" not in names, path
    for leaf in ("errors.py", "parse.py"):
        assert not {n for n in _imports(package / leaf) if n.startswith("primsync")}, leaf
    assert {n for n in _imports(package / "accounts.py") if n.startswith("primsync")} == {
        "primsync.errors"
    }


# what Windows lacks of os and signal and primsync's paths could reach for (os.geteuid,
# signal.pause, SIGALRM, fork...), taken away in every Python process a test starts (the
# notebook's kernel and the demo mailbox included) through a sitecustomize on PYTHONPATH.
# (Third-party libraries take their Windows paths there by sys.platform; what their POSIX
# paths use, such as os.getuid for platformdirs, is left in place.)
WINDOWS_SHAPE = textwrap.dedent(
    """
    import os, signal
    for name in ("geteuid", "getegid", "fork", "forkpty", "setsid", "killpg", "getpgid"):
        if hasattr(os, name):
            delattr(os, name)
    for name in ("pause", "alarm", "setitimer", "getitimer", "SIGALRM"):
        if hasattr(signal, name):
            delattr(signal, name)
    """
)


def windows_shaped(tmp_path) -> dict[str, str]:
    import os

    shape = tmp_path / "windows-shape"
    shape.mkdir()
    (shape / "sitecustomize.py").write_text(WINDOWS_SHAPE)
    path = os.pathsep.join([str(shape), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep)}


def test_the_demo_runs_without_posix_only_functions(tmp_path):
    env = windows_shaped(tmp_path)
    env.pop("PRIMSYNC_DB", None)
    probe = subprocess.run(
        [sys.executable, "-c", "import os, signal; print(hasattr(os, 'geteuid'), "
         "hasattr(signal, 'pause'), hasattr(os, 'fork'))"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.stdout.split() == ["False", "False", "False"]  # the shape is in force
    out = subprocess.run(
        [sys.executable, "-m", "primsync.cli", "demo", "--no-lab", "--exit"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "demo database:" in out.stdout and "rows shown" in out.stdout


def test_the_sync_notebook_runs_without_posix_only_functions(tmp_path, monkeypatch):
    papermill = __import__("pytest").importorskip("papermill")
    env = windows_shaped(tmp_path)
    monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
    monkeypatch.delenv("PRIMSYNC_ACCOUNT", raising=False)
    monkeypatch.delenv("PRIMSYNC_DB", raising=False)
    (tmp_path / "notebooks").mkdir()
    out = tmp_path / "sync.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "01_sync.ipynb"), str(out), cwd=str(tmp_path / "notebooks"),
        kernel_name="python3", progress_bar=False, log_output=False,
    )  # fmt: skip
    import json

    text = json.dumps([c.get("outputs", []) for c in json.loads(out.read_text())["cells"]])
    assert "account recruiter@agency.example" in text
    assert (tmp_path / "data" / "demo.db").exists()

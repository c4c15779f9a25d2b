"""primsync installed as people install it: README's two commands on a stock system Python in
a fresh copy of the checkout, and the wheel in a fresh virtual environment outside it.

Both install from the package registry (pip's cache makes a second run quick): minutes, not
seconds; they are the only tests that do."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from primsync.demo import DEMO_ACCOUNT
from tests.conftest import ROOT

SYSTEM_PYTHON = Path("/usr/bin/python3")  # Debian's, as a fresh Debian or Ubuntu has it


def _clean_env(**more: str) -> dict[str, str]:
    """This environment without what would point a new install back at the checkout.

    pip does not byte-compile every file it installs (``PIP_COMPILE=0``: 27 of pip 26.3's 44
    CPU-s of installing the wheel with its notebook tools, for the thousands of modules of
    JupyterLab and its kin that these tests never import), and Python writes the bytecode of
    what it does import, once, as on a user's machine: where ``PYTHONDONTWRITEBYTECODE`` is set
    (this machine kind), every process would compile pandas and SQLAlchemy from source again."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items()
           if k not in dropped and not k.startswith("PRIMSYNC_")}  # fmt: skip
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_COMPILE"] = "0"  # pip reads PIP_NO_COMPILE inverted; this one says what it means
    env.update(more)
    return env


def _fresh_clone(dest: Path) -> Path:
    """The checkout as a fresh clone has it: tracked and new files, nothing git ignores (no
    .venv/, no data/); outside git (an exported tree), the tree less what .gitignore names."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
            capture_output=True, check=True,
        ).stdout.decode().split("\0")  # fmt: skip
        for name in filter(None, listed):
            source = ROOT / name
            if source.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
        return dest
    ignored = shutil.ignore_patterns(
        ".venv", "data", "__pycache__", "*.egg-info", "build", "artifacts", ".*_cache"
    )
    shutil.copytree(ROOT, dest, ignore=ignored)
    (dest / "data").mkdir()
    shutil.copy2(ROOT / "data" / "README.md", dest / "data" / "README.md")
    return dest


def _readme_commands() -> list[str]:
    return re.findall(r"^    (\S.*)$", (ROOT / "README.md").read_text(), flags=re.M)[:2]


def test_readme_commands_on_a_stock_system_python(tmp_path):
    """README's first command as written (the demo's review printed instead of JupyterLab) and
    its second up to the collection of the tests, with Debian's /usr/bin/python3 (which refuses
    pip outside a virtual environment, PEP 668) first on the PATH, in a fresh clone."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no system Python at {SYSTEM_PYTHON} (a Debian or Ubuntu machine has one)")
    checkout = _fresh_clone(tmp_path / "primsync")
    main_job, tests = _readme_commands()
    demo = main_job.replace(".venv/bin/primsync demo", ".venv/bin/primsync demo --no-lab --exit")
    assert demo != main_job and main_job.endswith("primsync demo")
    env = _clean_env(PATH=f"{SYSTEM_PYTHON.parent}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run(["bash", "-c", demo], cwd=checkout, env=env, capture_output=True,
                         text=True, timeout=1200)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Re: Interview on Monday" in out.stdout and "3 pre-ticked (green)" in out.stdout
    config = (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert f"home = {SYSTEM_PYTHON.parent}" in config  # the system's Python, not pyenv's
    assert (checkout / "data" / "demo.db").is_file()

    # collected in one process (-n 0): three workers would each import and collect it all
    collect = tests.replace("-m pytest", "-m pytest --collect-only -q -p no:cacheprovider -n 0")
    assert collect != tests
    out = subprocess.run(["bash", "-c", collect], cwd=checkout, env=env, capture_output=True,
                         text=True, timeout=1800)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    counted = re.search(r"^(\d+) tests collected", out.stdout, flags=re.M)
    assert counted and int(counted.group(1)) > 400, out.stdout[-2000:]


def _build_wheel(dest: Path) -> Path:
    """The wheel of the repository, as `pip wheel` builds it (setuptools from the registry),
    from a fresh clone beside ``dest``: built in the checkout, setuptools would reuse the
    checkout's build/ folder (a module deleted since the last build shipped) and leave build/
    and *.egg-info in it."""
    source = _fresh_clone(dest.parent / f"{dest.name}-source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(source)],
        check=True, capture_output=True, env=_clean_env(), timeout=600,
    )  # fmt: skip
    (wheel,) = dest.glob("primsync-*.whl")
    return wheel


def test_the_wheel_carries_the_notebooks_and_nothing_of_the_tests(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "primsync/notebooks/01_sync.ipynb" in names
    assert "primsync/notebooks/02_explore.ipynb" in names
    assert "primsync/py.typed" in names and "primsync/db/migrations/env.py" in names
    assert "primsync/widgets/tick_table.js" in names  # the review grid's browser half
    assert any(n.startswith("primsync/db/migrations/versions/0007") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "scripts/"))]
    assert "primsync/testing.py" not in names  # the tests' servers live in tests/servers.py
    shipped = {n for n in names if n.endswith(".py")}
    source = {str(p.relative_to(ROOT)) for p in (ROOT / "primsync").rglob("*.py")
              if "__pycache__" not in p.parts}  # fmt: skip
    assert shipped == source  # every module, and a new subpackage is not forgotten
    for notebook in ("01_sync.ipynb", "02_explore.ipynb"):
        packed = zipfile.ZipFile(wheel).read(f"primsync/notebooks/{notebook}")
        assert packed == (ROOT / "notebooks" / notebook).read_bytes()


def test_the_installed_wheel_runs_the_demo_the_app_and_the_notebooks_from_any_folder(
    tmp_path, db
):
    """Built from the repository, installed into a fresh virtual environment in an empty
    folder outside the checkout (README's line, as written, from the wheel's folder): the demo,
    the app (served with its token, refused without), `primsync notebooks` and papermill on the
    shipped sync notebook against the tests' Dovecot."""
    shop = tmp_path / "wheelhouse"
    wheel = _build_wheel(shop)
    venv = tmp_path / "venv"
    # made as README's first command makes .venv/: with pip brought up to date
    subprocess.run([sys.executable, "-m", "venv", "--upgrade-deps", str(venv)], check=True,
                   capture_output=True, env=_clean_env(), timeout=600)  # fmt: skip
    line = next(
        m for m in re.findall(r"`(pip install '[^`]*\.whl\[notebook\]')`",
                              (ROOT / "README.md").read_text())
    )  # fmt: skip
    assert wheel.name in line, (wheel.name, line)
    bin_dir = venv / "bin"
    env = _clean_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PIP_CONSTRAINT=str(ROOT / "constraints.txt"),  # the tested versions, the line unchanged
        VIRTUAL_ENV=str(venv),
    )
    out = subprocess.run(["bash", "-c", line], cwd=shop, env=env, capture_output=True,
                         text=True, timeout=1200)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    work = tmp_path / "anywhere"
    work.mkdir()
    run = lambda *args, **kw: subprocess.run(  # noqa: E731
        [str(bin_dir / "primsync"), *args], cwd=work, env={**env, **kw.pop("env", {})},
        capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw,
    )  # fmt: skip
    where = run("--version")
    assert where.returncode == 0 and where.stdout.startswith("primsync 0."), where.stderr
    located = subprocess.run(
        [str(bin_dir / "python"), "-c", "import primsync; print(primsync.__file__)"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert str(venv) in located.stdout and str(ROOT) not in located.stdout

    demo = run("demo", "--no-lab", "--exit")
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "Re: Interview on Monday" in demo.stdout
    assert (work / "data" / "demo.db").is_file()

    copied = run("notebooks", "mine")
    assert copied.returncode == 0, copied.stderr
    assert sorted(p.name for p in (work / "mine").iterdir()) == [
        "01_sync.ipynb", "02_explore.ipynb"]  # fmt: skip
    again = run("notebooks", "mine")
    assert again.returncode == 2 and "already exist" in again.stderr

    # papermill on the shipped sync notebook: a review and an import of the test mailbox
    from tests.conftest import PASSWORD

    done = subprocess.run(
        [str(bin_dir / "papermill"), "mine/01_sync.ipynb", "out.ipynb", "--kernel", "python3",
         "-y", json.dumps({"folders": ["INBOX"], "option": "all", "accessible_to": "Public"})],
        cwd=work, capture_output=True, text=True, timeout=600,
        env={**env, "PRIMSYNC_DB": str(db.url), "PRIMSYNC_ACCOUNT": DEMO_ACCOUNT,
             "PRIMSYNC_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    printed = "".join(
        "".join(o.get("text", ""))
        for c in json.loads((work / "out.ipynb").read_text())["cells"]
        for o in c.get("outputs", [])
    )
    assert re.search(r"import run \d+: [1-9]\d* imported", printed), printed[-2000:]

    _app_serves_only_with_its_token(bin_dir, work, env, db)


def _app_serves_only_with_its_token(bin_dir: Path, work: Path, env: dict, db) -> None:
    from tests.conftest import PASSWORD
    from tests.processes import printed_address, running

    with running(
        [str(bin_dir / "primsync"), "app", "--account", DEMO_ACCOUNT], cwd=work,
        env={**env, "PRIMSYNC_DB": str(db.url), "PRIMSYNC_PASSWORD": PASSWORD},
    ) as app:  # fmt: skip
        url = printed_address(app, "App")
        assert url and "token=" in url
        with urllib.request.urlopen(url, timeout=120) as page:
            assert page.status == 200 and "voila" in page.read().decode().lower()
        bare = url.split("?", 1)[0]

        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kw):  # type: ignore[no-untyped-def]
                return None  # a redirect is an answer of its own here

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.build_opener(Stay).open(bare, timeout=60)
        refused.value.close()
        # without the token: refused, or sent to the login page (which asks for the token)
        assert refused.value.code in (401, 403) or (
            refused.value.code == 302 and "/login" in refused.value.headers["Location"]
        ), refused.value
        assert (work / "data" / "notebooks" / "01_sync.ipynb").is_file()

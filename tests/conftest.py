"""Fixtures: a private Dovecot, databases, the shared corpus, the test mailbox."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import sys
from datetime import UTC, datetime, time
from pathlib import Path

import imapclient
import pytest

from primsync.db.engine import init_db, open_engine
from primsync.demo import DEMO_ACCOUNT, seed_database, seed_mailbox
from primsync.errors import ConfigurationError
from primsync.imap import ConnectionSettings, connect
from tests.forkserver import PRIMSYNC
from tests.servers import DovecotServer, PostgresServer

ROOT = Path(__file__).resolve().parent.parent
# A suite started in the background of a script (`pytest &`) inherits SIGINT ignored, and so
# would every command it starts: the tests that stop a demo or a lab with Ctrl-C then waited
# out their timeouts. The tests' processes take Ctrl-C as a terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# The project's own bytecode is written (in __pycache__/, git-ignored) even where
# PYTHONDONTWRITEBYTECODE is set, as this machine kind sets it: otherwise every worker rewrites
# the tests' asserts from source (a worker's collection 8.7 -> 5.9 CPU-s), and every command,
# kernel and worker the suite starts compiles primsync again (~0.09 CPU-s each, ~400 processes;
# primsync is compiled whole by pytest_configure, before the workers start).
sys.dont_write_bytecode = False
CORPUS = Path(os.environ.get("PRIMSYNC_CORPUS", ROOT.parent / "shared" / "corpus"))
CANARY = "Canary-Pw-7f3a9e1c"  # a recognisable secret, searched for everywhere by test_secrets
# the tools of the Python that runs the tests first on the PATH (primsync, jupyter, papermill),
# as if its environment were activated: README runs the suite as `.venv/bin/python -m pytest`
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

USERS = {
    "ana": "ana-test-pw",
    "corpus": "corpus-test-pw",
    "cli": "cli-test-pw",
    "reset": "reset-test-pw",
    "canary": CANARY,
    "hostile": "hostile-test-pw",
    "gmail": "gmail-test-pw",
    "replies": "replies-test-pw",  # benchmarks/replies.py's labelled mailbox
    "threads": "threads-test-pw",  # benchmarks/threads.py's real threads, as sent
    "threads-cc": "threads-cc-test-pw",  # ... the repliers named in the Sent copies
    "bench": "bench-test-pw",  # benchmarks/mailbox.py's mailbox, half its senders unknown
    "big": "big-test-pw",  # a folder of 170,000 messages (test_imap), in an mbox file
}
PASSWORD = USERS["ana"]


@pytest.fixture(scope="session", autouse=True)
def forkserver():
    """This worker's command server (tests/forkserver.py): ``[*PRIMSYNC, ...]`` commands are
    forked from a process that imported pandas, SQLAlchemy and the rest once.
    ``PRIMSYNC_TEST_FORK=0`` runs every command as a fresh interpreter instead."""
    import subprocess
    import tempfile

    from tests.forkserver import SOCKET_VARIABLE
    from tests.processes import stop

    if os.environ.get("PRIMSYNC_TEST_FORK") == "0" or sys.platform != "linux":  # fork, /proc
        os.environ.pop(SOCKET_VARIABLE, None)
        yield None
        return
    folder = tempfile.mkdtemp(prefix="primsync-fork-")  # short: a socket's path is <108 bytes
    path = os.path.join(folder, "socket")
    server = subprocess.Popen([sys.executable, "-m", "tests.forkserver", "--serve", path],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert server.stdout.readline() == "ready\n", "tests/forkserver.py did not start"
        os.environ[SOCKET_VARIABLE] = path
        yield path
    finally:
        os.environ.pop(SOCKET_VARIABLE, None)
        server.stdin.close()
        stop(server)  # SIGTERM: forked commands still running go on to their end
        server.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def dns_server():
    """The tests' DNS server on loopback, named by $PRIMSYNC_DNS_SERVER for the whole session
    (commands started by tests inherit it): no test reaches a real resolver. Tests add names
    to ``dns_server.zone``."""
    from tests.dns_server import DnsServer

    server = DnsServer()
    before = os.environ.get("PRIMSYNC_DNS_SERVER")
    os.environ["PRIMSYNC_DNS_SERVER"] = server.address
    yield server
    server.close()
    if before is None:
        os.environ.pop("PRIMSYNC_DNS_SERVER", None)
    else:
        os.environ["PRIMSYNC_DNS_SERVER"] = before


@pytest.fixture(scope="session")
def dovecot():
    """A private Dovecot on loopback (Debian's dovecot-imapd); in CI its absence is a failure."""
    if DovecotServer.binary() is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed: .ci/run must install dovecot-imapd")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    with DovecotServer(USERS, mbox_users={"big"}) as server:
        yield server


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL cluster (Debian's postgresql); in CI its absence is a failure."""
    if PostgresServer.bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run must install postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with PostgresServer() as server:
        yield server


_DATABASES = itertools.count(1)
RUN_COMPRESS = os.environ.get("PRIMSYNC_COMPRESS")  # as the run was started (None: not set)
BACKENDS = os.environ.get("PRIMSYNC_TEST_DATABASES", "sqlite,postgresql").split(",")


class Templates:
    """Databases made once a session — migrated, or migrated and seeded — and copied for each
    test: a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL (a migration
    and a seed cost 0.8 to 2.3 s a test; a copy, milliseconds)."""

    def __init__(self, folder: Path, request):
        self.folder, self.request = folder, request
        self.made: dict[tuple[str, str], str] = {}

    def copy(self, backend: str, kind: str, make, tmp_path: Path) -> str:
        """The URL of a fresh copy of the ``kind`` template, made by ``make(engine)`` once."""
        key = (backend, kind)
        if key not in self.made:
            if backend == "sqlite":
                url = f"sqlite:///{self.folder / f'{kind}.db'}"
            else:
                url = self._postgres().create_database(f"template_{kind}")
            engine = open_engine(url, create=True)
            make(engine)
            engine.dispose()  # a template nobody is connected to (PostgreSQL asks it)
            self.made[key] = url
        if backend == "sqlite":
            target = tmp_path / "primsync.db"
            shutil.copyfile(self.made[key].removeprefix("sqlite:///"), target)
            return f"sqlite:///{target}"
        return self._postgres().create_database(
            f"test_{next(_DATABASES)}", template=f"template_{kind}"
        )

    def _postgres(self):
        return self.request.getfixturevalue("postgres")


@pytest.fixture(scope="session")
def templates(tmp_path_factory, request) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"), request)


# modules where no SQL dialect is at stake (the screen, the wire, sign-in, files): SQLite only;
# the others (queries, locks, migrations, commit, access, sync, review...) on both databases
DIALECT_FREE = {
    "test_account_commands", "test_accounts", "test_apponly", "test_browser", "test_connection",
    "test_corpus", "test_deflate", "test_discover", "test_export", "test_forkserver", "test_imap",
    "test_install",
    "test_notebooks", "test_preview", "test_providers", "test_report", "test_session",
    "test_signin", "test_widgets",
}  # fmt: skip


# modules where only PostgreSQL makes sense (procrastinate's queue lives there)
POSTGRES_ONLY = {"test_worker"}


# the longest tests (installs into fresh virtual environments, README's walk, the browser) first:
# the workers then finish together instead of waiting on one started last
SLOW_FIRST = ("test_install", "test_readme_walk", "test_browser", "test_signin")


# the IMAP side: what reads the mail (the IMAP layer, the parsing of what it reads, and the
# review, import and sync over it) — marked `imap_side`, where PRIMSYNC_COMPRESS and imaplib's
# changes are felt. Those that take a database (marked `database` too) read their mail
# compressed on SQLite and uncompressed on PostgreSQL (`_compression_by_database`); CI's second
# pass (the newest Python, compression off) runs the others: the IMAP layer and the parsing
IMAP_SIDE = {
    "test_commit", "test_connection", "test_corpus", "test_coverage", "test_deflate",
    "test_enrich", "test_fetch_shapes", "test_frame", "test_hostile", "test_imap", "test_oauth",
    "test_options", "test_parse", "test_replies", "test_review", "test_schedule",
    "test_selection", "test_sync", "test_wire",
}  # fmt: skip


def _module(item) -> str:
    owner = getattr(item, "module", None)
    return owner.__name__.rpartition(".")[2] if owner is not None else ""


def pytest_configure(config):
    """primsync's modules compiled once, before the workers start: the commands the tests run
    inherit PYTHONDONTWRITEBYTECODE and would never write them (a module up to date is skipped;
    one edited since is compiled again; Python checks the source's time and size at import)."""
    if not hasattr(config, "workerinput"):
        import compileall

        compileall.compile_dir(ROOT / "primsync", quiet=1)


def pytest_collection_modifyitems(items):
    for item in items:
        if _module(item) in IMAP_SIDE:
            item.add_marker(pytest.mark.imap_side)
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)

    def rank(item) -> int:
        module = _module(item)
        return SLOW_FIRST.index(module) if module in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_generate_tests(metafunc):
    """``backend``: the databases a test runs on (see DIALECT_FREE)."""
    if "backend" in metafunc.fixturenames:
        module = metafunc.module.__name__.rpartition(".")[2]
        once = module in DIALECT_FREE and "sqlite" in BACKENDS
        backends = ["sqlite"] if once else BACKENDS
        if module in POSTGRES_ONLY:
            backends = [b for b in BACKENDS if b == "postgresql"]
        metafunc.parametrize("backend", backends)


@pytest.fixture(autouse=True)
def _compression_by_database(request, monkeypatch):
    """The IMAP side's tests on PostgreSQL read their mail without COMPRESS=DEFLATE, those on
    SQLite with it (the test Dovecot offers it): one pass covers both ways of reading for the
    review, import and sync. A PRIMSYNC_COMPRESS set for the whole run (CI's second pass) is
    left as it is."""
    callspec = getattr(request.node, "callspec", None)
    if (
        callspec is not None
        and callspec.params.get("backend") == "postgresql"
        and request.node.get_closest_marker("imap_side") is not None
        and RUN_COMPRESS is None
    ):
        monkeypatch.setenv("PRIMSYNC_COMPRESS", "0")


@pytest.fixture
def empty_engine(backend, request, tmp_path):
    """An empty database: SQLite in a temp file, or a new database on the private PostgreSQL."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'primsync.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"test_{next(_DATABASES)}")
    engine = open_engine(url, create=True)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(backend, templates, tmp_path):
    """A database at the current schema (a copy of the session's migrated template)."""
    engine = open_engine(templates.copy(backend, "migrated", init_db, tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (set PRIMSYNC_CORPUS)")
    files = sorted(
        p for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix.lower() not in (".md", ".txt") and "LICENSE" not in p.name
    )  # fmt: skip
    assert len(files) > 150, f"expected the ~190 messages of the corpus, found {len(files)}"
    return files


@pytest.fixture(scope="session")
def now() -> datetime:
    """Noon UTC today: the test mailbox's dates count back from here, away from midnight."""
    return datetime.combine(datetime.now(UTC).date(), time(12, 0), tzinfo=UTC)


@pytest.fixture(scope="session")
def mailbox(dovecot, now):
    """Ana's test mailbox (tests/mailbox.py), appended once per session."""
    from tests.mailbox import MAILS

    settings = ConnectionSettings(
        address=DEMO_ACCOUNT, host=dovecot.host, port=dovecot.port, username="ana", security="none"
    )
    with connect(settings, PASSWORD) as box:
        seed_mailbox(box, MAILS, now=now)
    return dovecot


@pytest.fixture
def db(backend, templates, tmp_path, mailbox):
    """A database with the demo's groups, users, records and CRM messages; Ana owns the
    account of the test mailbox (a copy of the session's seeded template)."""

    def seed(engine):
        seed_database(engine, host=mailbox.host, port=mailbox.port, username="ana")

    engine = open_engine(templates.copy(backend, "seeded", seed, tmp_path))
    yield engine
    engine.dispose()


def server_flags(server) -> dict[tuple[str, int], bool]:
    """(folder, uid) → whether the message is flagged \\Seen, read from the server."""
    from tests.mailbox import FOLDERS

    client = imapclient.IMAPClient(server.host, server.port, ssl=False)
    client.login("ana", PASSWORD)
    flags = {}
    for folder in FOLDERS:
        client.select_folder(folder, readonly=True)
        for uid, data in client.fetch(client.search("ALL"), ["FLAGS"]).items():
            flags[(folder, uid)] = b"\\Seen" in data[b"FLAGS"]
    client.logout()
    return flags


def assert_lean_review_same(engine, account: str, folders, **kw):
    """Review twice, every row kept and only the rows shown kept (``keep_unmatched``): the
    same rows shown, with the same values, and the rows let go of counted. Returns the two."""
    import pandas as pd

    from primsync import frame as F
    from primsync.review import review_mailbox

    kw.setdefault("option", "all")
    full = review_mailbox(engine, account, list(folders), record=False, **kw)
    lean = review_mailbox(engine, account, list(folders), record=False, keep_unmatched=False, **kw)
    pd.testing.assert_frame_equal(
        lean.frame.reset_index(drop=True), full.frame.reset_index(drop=True)
    )
    assert len(lean.all_rows) == len(lean.frame)  # nothing else held
    assert lean.left_out is not None and full.left_out is None
    assert lean.unmatched_count == lean.left_out.unknown == len(full.unmatched)
    assert lean.left_out.excluded == int(full.all_rows[F.EXCLUDED].sum())
    with pytest.raises(ConfigurationError, match="keep_unmatched=True"):
        lean.unmatched  # noqa: B018
    return full, lean


def group_id(engine, name: str) -> int:
    """The id of the security group called ``name``."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from primsync.db.models import SecurityGroup

    with Session(engine) as session:
        return session.scalar(select(SecurityGroup.id).where(SecurityGroup.name == name))


def add_account(engine, address: str, server, username: str, *, owner_id: int = 1, **kw) -> None:
    """Register a mail account on the private Dovecot (or a ``(host, port)``), owned by Ana
    unless told otherwise."""
    from primsync.db.engine import write_session
    from primsync.db.models import MailAccount

    host, port = server if isinstance(server, tuple) else (server.host, server.port)
    values = {"host": host, "port": port, "security": "none", **kw}
    with write_session(engine) as session:
        session.add(MailAccount(address=address, username=username, owner_id=owner_id, **values))


@pytest.fixture(scope="session")
def hostile_mailbox(dovecot):
    """A mailbox holding one message from a known contact whose HTML part carries a script, an
    onerror handler, a remote image and a javascript: link, with an attachment ../../evil.sh."""
    from tests.hostile_mail import HOSTILE_MESSAGE

    settings = ConnectionSettings(
        address=HOSTILE_ACCOUNT, host=dovecot.host, port=dovecot.port, username="hostile",
        security="none",
    )  # fmt: skip
    with connect(settings, USERS["hostile"]) as box:
        box.append("INBOX", HOSTILE_MESSAGE)
    return dovecot


HOSTILE_ACCOUNT = "hostile@agency.example"


@pytest.fixture
def hostile_db(db, hostile_mailbox):
    """``db`` with the hostile mailbox registered as Ana's second account."""
    add_account(db, HOSTILE_ACCOUNT, hostile_mailbox, "hostile")
    return db


@pytest.fixture(scope="session")
def replies_mailbox(dovecot, now):
    """The labelled mailbox of benchmarks/replies.py (63 cases), appended once per session."""
    from benchmarks.replies import fill_mailbox

    fill_mailbox(dovecot, USERS["replies"], now)
    return dovecot


@pytest.fixture(scope="session", params=["as sent", "repliers in copy"])
def real_threads(request, dovecot):
    """benchmarks/threads.py's labelled set of real mailing-list threads (notmuch's test
    corpora, fetched by scripts/setup-tests.sh), in a mailbox of its own per variant, appended
    once per session: (variant, labelled set, Dovecot user)."""
    from benchmarks import threads

    why = threads.missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    user = "threads" if request.param == "as sent" else "threads-cc"
    labelled = threads.labelled_set(threads.read_corpus(), request.param)
    threads.fill_mailbox(dovecot, USERS[user], labelled, user=user)
    return request.param, labelled, user


@pytest.fixture
def replies_db(engine, replies_mailbox, now):
    """A database with the labelled cases' records and CRM messages, and their account."""
    from benchmarks.replies import seed

    seed(engine, replies_mailbox, now=now)
    return engine


@pytest.fixture(scope="session")
def agency(now):
    """The agency's Dovecot (tests/agency.py): 19 mailboxes of three messages each."""
    from tests.agency import AGENTS, mail, password

    if DovecotServer.binary() is None:
        if os.environ.get("CI"):
            pytest.fail("Dovecot is not installed: .ci/run must install dovecot-imapd")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    with DovecotServer({a: password(a) for a in AGENTS}) as server:
        for agent in AGENTS:
            settings = ConnectionSettings(
                address=f"{agent}@agency.example",
                host=server.host,
                port=server.port,
                username=agent,
                security="none",
            )
            with connect(settings, password(agent)) as box:
                seed_mailbox(box, mail(agent), now=now)
        yield server


@pytest.fixture
def keyring_env(tmp_path, monkeypatch):
    """The passwords in a file keyring (keyrings.alt), as `account password` keeps them."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "XDG_DATA_HOME": str(tmp_path / "keyring")}  # fmt: skip
    env.pop("PRIMSYNC_PASSWORD", None)
    for name in ("PYTHON_KEYRING_BACKEND", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("PRIMSYNC_PASSWORD", raising=False)
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    before = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    yield env
    keyring.set_keyring(before)


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """The tests' identity provider (tests/idp.py): HTTPS with a private CA."""
    from tests.idp import IdentityProvider

    with IdentityProvider(tmp_path_factory.mktemp("idp")) as provider:
        yield provider


@pytest.fixture(scope="module")
def oauth_imap(idp):
    """A Dovecot that checks access tokens at the identity provider; Ana's mailbox (login
    ana) holds one message."""
    from tests.idp import M365, MESSAGE

    if DovecotServer.binary() is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed: .ci/run must install dovecot-imapd")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    with DovecotServer(
        {"ana": "plain-pw"}, oauth2_introspection_url=idp.introspection_url
    ) as server:
        settings = ConnectionSettings(address=M365, host=server.host, port=server.port,
                                      username="ana", security="none")  # fmt: skip
        with connect(settings, "plain-pw") as box:
            box.append("INBOX", MESSAGE)
        yield server


def oauth_accounts_url(templates, backend, tmp_path, oauth_imap, *more: str, said: str = "") -> str:
    """The URL of a copy of a database with the demo's records and tests/idp.py's two accounts
    (Microsoft 365 and Gmail, on ``oauth_imap``) registered with `primsync account add` and
    ``more`` of its options (``said``: a line it must print, ``{address}`` filled in): made
    once per session and Dovecot, for test_signin's and test_apponly's set-up."""
    import subprocess

    from tests.idp import GMAIL, M365

    def registered(engine) -> None:
        seed_database(engine, host="127.0.0.1", port=1, username="nobody")
        env = {**os.environ, "PRIMSYNC_DB": engine.url.render_as_string(hide_password=False)}
        for address, provider in ((M365, "outlook"), (GMAIL, "gmail")):
            done = subprocess.run(
                [*PRIMSYNC, "account", "add", address, "--owner", "ana",
                 "--provider", provider, *more, "--host", "127.0.0.1", "--port",
                 str(oauth_imap.port), "--security", "none", "--username", "ana"],
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert said.format(address=address) in done.stdout

    kind = f"accounts-{'-'.join(more) or 'signin'}-{oauth_imap.port}"
    return templates.copy(backend, kind, registered, tmp_path)

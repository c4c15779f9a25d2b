"""Private Dovecot and PostgreSQL servers for the tests and benchmarks (POSIX only: they run
Debian's programs, under an unprivileged user when started as root).

Part of the tests, not of the package: the wheel does not carry it (``import primsync`` and
the command line work without it, on any system).

>>> with DovecotServer({"ana": "secret"}) as server:   # doctest: +SKIP
...     print(server.port)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from primsync.errors import ConfigurationError, ServiceError
from primsync.servers import Server, free_port, quiet_lab_config, wait_for_port

__all__ = ["DovecotServer", "PostgresServer", "quiet_lab_config"]


_DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
auth_failure_delay = 0
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
mail_location = maildir:{root}/mail/%u:LAYOUT=fs
mail_max_userip_connections = 200
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  # a mailbox laid out as Gmail's (the tests' "gmail" user)
  mailbox "[Gmail]/All Mail" {{
    special_use = \\All
  }}
  mailbox "[Gmail]/Sent Mail" {{
    special_use = \\Sent
  }}
  mailbox "[Gmail]/Starred" {{
    special_use = \\Flagged
  }}
  mailbox "[Gmail]/Spam" {{
    special_use = \\Junk
  }}
  mailbox "[Gmail]/Trash" {{
    special_use = \\Trash
  }}
}}
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
protocol imap {{
  # COMPRESS=DEFLATE (RFC 4978), as Gmail, Fastmail and Cyrus offer it
  mail_plugins = $mail_plugins zlib imap_zlib
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
{chroot}}}
# a folder of 500,000 messages (benchmarks/run.py) needs more than the default 256 MB: the
# index cache alone is mapped at 176 MB, and a FETCH of it all ran out ("Fatal: block_alloc:
# Out of memory"); servers that hold such folders raise it the same way
service imap {{
  vsz_limit = 2G
}}
# no authentication penalty: anvil delays each failed login from an address by 2, 4, 8, then
# 15 s, and the tests' refused passwords and tokens all come from 127.0.0.1 (Dovecot's
# documented switch: the listener's mode 0)
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{chroot}}}
service ipc {{
{chroot}}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


class DovecotServer(Server):
    """A private Dovecot (Debian's ``dovecot-imapd``): own config, Maildirs and logs in a temp
    folder, plain IMAP on ``port`` and IMAPS with a self-signed certificate on ``ssl_port``."""

    def __init__(
        self,
        users: dict[str, str],
        *,
        root: str | os.PathLike[str] | None = None,
        oauth2_introspection_url: str | None = None,
        mbox_users: Iterable[str] = (),
    ):
        """``oauth2_introspection_url``: also accept XOAUTH2 and OAUTHBEARER, checking each
        token at that RFC 7662 introspection endpoint (Dovecot's ``oauth2`` passdb).
        ``mbox_users``: these users' folders are mbox files (:meth:`write_mbox`), one file a
        folder, not a Maildir of one file a message: a folder of 170,000 messages is then
        written in a second and deleted at once."""
        self.users = dict(users)
        self.mbox_users = frozenset(mbox_users)
        self.oauth2_introspection_url = oauth2_introspection_url
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="primsync-dovecot-"))
        self.port = free_port()
        self.ssl_port = free_port()
        self.host = "127.0.0.1"

    @property
    def cert_file(self) -> Path:
        return self.root / "cert.pem"

    def _userdb_mail(self, user: str) -> str:
        if user not in self.mbox_users:
            return ""
        folders = self.root / "mbox" / user
        return f"userdb_mail=mbox:{folders}:INBOX={folders}/inbox"

    def write_mbox(
        self, user: str, folder: str, messages: Iterable[tuple[bytes, datetime]]
    ) -> None:
        """Write the folder ``folder`` of an mbox user whole: ``messages`` are (message, its
        INTERNALDATE) pairs, the date going into each message's "From " line."""
        assert user in self.mbox_users, f"{user} keeps a Maildir"
        path = self.root / "mbox" / user / folder
        with open(path, "wb") as out:
            for message, when in messages:
                body = re.sub(rb"(?m)^(>*From )", rb">\1", message.replace(b"\r\n", b"\n"))
                stamp = when.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y").encode()
                out.write(
                    b"From primsync@localhost " + stamp + b"\n" + body.rstrip(b"\n") + b"\n\n"
                )
        if os.geteuid() == 0:  # Dovecot reads it as the unprivileged mail user
            import pwd

            owner = pwd.getpwnam("nobody")
            os.chown(path, owner.pw_uid, owner.pw_gid)

    @staticmethod
    def binary() -> str | None:
        """The dovecot binary, when its IMAP service is installed too (dovecot-imapd: without
        it, dovecot-core starts but refuses every IMAP login)."""
        found = shutil.which("dovecot") or (
            "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
        )
        return found if found and Path("/usr/lib/dovecot/imap").exists() else None

    def start(self) -> None:
        binary = self.binary()
        if binary is None:
            raise ConfigurationError("dovecot is not installed (apt-get install dovecot-imapd)")
        root = self.root
        mbox = ["mbox", *(f"mbox/{u}" for u in sorted(self.mbox_users))] if self.mbox_users else []
        for sub in ("run", "state", "mail", "home", *mbox):
            (root / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                str(root / "key.pem"),
                "-out",
                str(self.cert_file),
            ],
            check=True,
            capture_output=True,
        )
        (root / "passwd").write_text(
            "".join(
                f"{u}:{{PLAIN}}{p}::::::{self._userdb_mail(u)}\n" for u, p in self.users.items()
            )
        )
        import pwd  # POSIX only, like Dovecot itself

        if os.geteuid() == 0:
            mail_user = pwd.getpwnam("nobody")
            uid, gid = mail_user.pw_uid, mail_user.pw_gid
            login_user, internal_user, chroot = "dovenull", "dovecot", ""
            for sub in ("mail", "home", *mbox):
                os.chown(root / sub, uid, gid)
            os.chmod(root, 0o755)
        else:
            uid, gid = os.getuid(), os.getgid()
            me = pwd.getpwuid(uid).pw_name
            login_user, internal_user, chroot = me, me, "  chroot =\n"
        oauth2_passdb, oauth2_mechanisms = "", ""
        if self.oauth2_introspection_url:
            (root / "oauth2.conf.ext").write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth2_introspection_url}\n"
                "force_introspection = yes\nusername_attribute = username\n"
                "active_attribute = active\nactive_value = true\n"
            )
            oauth2_mechanisms = " xoauth2 oauthbearer"
            oauth2_passdb = (
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {root}/oauth2.conf.ext\n}}\n"
            )
        conf = _DOVECOT_CONF.format(
            root=root,
            port=self.port,
            ssl_port=self.ssl_port,
            uid=uid,
            gid=gid,
            login_user=login_user,
            internal_user=internal_user,
            chroot=chroot,
            oauth2_passdb=oauth2_passdb,
            oauth2_mechanisms=oauth2_mechanisms,
        )
        (root / "dovecot.conf").write_text(conf)
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, process=self.process)
        except ServiceError as exc:
            log = (
                (root / "dovecot.log").read_text(errors="replace")[-2000:]
                if (root / "dovecot.log").exists()
                else ""
            )
            out = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
            raise ServiceError(f"{exc}; dovecot said: {out[-2000:]} {log}") from exc

    def stop(self) -> None:
        super().stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


class PostgresServer(Server):
    """A private PostgreSQL cluster (Debian's ``postgresql``) in a temp folder, on a loopback
    port, with trust authentication for the user ``primsync``. As root, the cluster runs as
    the ``postgres`` system user (PostgreSQL refuses to run as root)."""

    def __init__(self, *, root: str | os.PathLike[str] | None = None):
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="primsync-pg-"))
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "primsync"

    @staticmethod
    def bindir() -> Path | None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if found:
            return found[-1].parent
        initdb = shutil.which("initdb")
        return Path(initdb).parent if initdb else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    @staticmethod
    def _owner() -> str | None:
        """PostgreSQL refuses to run as root: then its programs run as ``postgres``."""
        return "postgres" if os.geteuid() == 0 else None

    def start(self) -> None:
        bindir = self.bindir()
        if bindir is None:
            raise ConfigurationError("PostgreSQL is not installed (apt-get install postgresql)")
        data, sockets = self.root / "data", self.root / "run"
        sockets.mkdir(parents=True, exist_ok=True)
        import pwd  # POSIX only, like PostgreSQL's initdb under root

        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chmod(self.root, 0o755)
            for path in (self.root, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                self.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            user=self._owner(),
            group=self._owner(),
        )
        self._launch()

    def _launch(self) -> None:
        """Run the server on the cluster made by ``start`` and wait until it takes logins."""
        bindir = self.bindir()
        assert bindir is not None
        data, sockets = self.root / "data", self.root / "run"
        self.process = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.root,
            user=self._owner(),
            group=self._owner(),
        )
        wait_for_port(self.port, timeout=60, process=self.process)
        import psycopg

        deadline = time.monotonic() + 30
        while True:  # the port opens a moment before the server accepts logins
            try:
                psycopg.connect(
                    host=self.host, port=self.port, user=self.user, dbname="postgres"
                ).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def restart(self) -> None:
        """Stop the server (its connections cut) and start it again on the same port and
        data: what a team's database does for an upgrade."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)
        self._launch()

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database — empty, or a copy of ``template`` (which nobody may be connected
        to) — and return its SQLAlchemy URL."""
        import psycopg

        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        super().stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

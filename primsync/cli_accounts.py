"""The command line's mail accounts: ``primsync account`` (add, edit, schedule, password, list,
test, remove) and ``primsync login``. ``cli.py`` adds these parsers and dispatches to these
commands; the work is done by ``primsync.db.accounts``, ``primsync.discover``,
``primsync.credentials`` and ``primsync.signin``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from primsync.cli_common import (
    add_connection,
    add_db,
    add_select,
    confidence_arg,
    frame_out,
    open_db,
    stdin_secret,
)
from primsync.errors import ConfigurationError
from primsync.options import SyncOption

if TYPE_CHECKING:
    from primsync.discover import Discovery

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["account_parser", "cmd_account", "cmd_login", "login_parser"]


def account_parser(sub: Subparsers) -> None:
    """``primsync account``'s arguments."""
    p = sub.add_parser("account", help="register, list, test or remove mail accounts")
    what = p.add_subparsers(dest="action", required=True)
    a = what.add_parser("add", help="register a mail account (presets by provider or domain)")
    add_db(a)
    a.add_argument("address", metavar="ADDRESS")
    a.add_argument("--owner", required=True, help="login of the user who owns the account")
    a.add_argument(
        "--provider",
        help="gmail, outlook (Microsoft 365, Outlook.com; also said microsoft), yahoo, icloud, "
        "fastmail, gmx, zoho, ovh, aol or imap (default: from the address's domain)",
    )
    add_connection(a)
    a = what.add_parser("edit", help="correct a registered account's settings")
    add_db(a)
    a.add_argument("address", metavar="ADDRESS")
    add_connection(a)
    a.add_argument("--owner", help="login of the user who owns the account")
    a = what.add_parser("schedule", help="what `primsync sync --all` runs for this account")
    add_db(a)
    a.add_argument("address", metavar="ADDRESS")
    a.add_argument("--folder", action="append", help="a folder, by name (repeatable)")
    a.add_argument(
        "--option",
        default=SyncOption.SINCE_LAST.value,
        choices=[o.value for o in SyncOption if o is not SyncOption.RANGE],
        help="which messages (default: since-last)",
    )
    add_select(a)
    a.add_argument("--accessible-to", help="security group of the imported mail")
    a.add_argument("--threshold", type=confidence_arg, default=None, help="as for sync (0..1)")
    a.add_argument("--every", default="15m", help="how often: 15m, 2h, 1d (default 15m)")
    a.add_argument("--off", action="store_true", help="switch the schedule off (it is kept)")
    a.add_argument("--on", action="store_true", help="switch a schedule that is off on again")
    a = what.add_parser("password", help="keep an account's password in the system keyring")
    add_db(a)
    a.add_argument("address", metavar="ADDRESS")
    a.add_argument(
        "--password-stdin", action="store_true", help="read it from standard input, not a prompt"
    )
    a = what.add_parser("list", help="the registered accounts")
    add_db(a)
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")
    a = what.add_parser("test", help="connect, log in, list folders, say what the server offers")
    add_db(a)
    a.add_argument("address", metavar="ADDRESS")
    a.add_argument("--password-stdin", action="store_true", help="read the secret from stdin")
    a = what.add_parser("remove", help="unregister an account")
    add_db(a)
    a.add_argument("address", metavar="ADDRESS")
    gone = a.add_mutually_exclusive_group()
    gone.add_argument(
        "--delete-messages", action="store_true", help="also remove the mail imported from it"
    )
    gone.add_argument(
        "--move-messages-to", metavar="ADDRESS", help="file its imported mail under this account"
    )


def login_parser(sub: Subparsers) -> None:
    """``primsync login``'s arguments."""
    p = sub.add_parser("login", help="sign a Gmail or Microsoft 365 account in (OAuth2), once")
    add_db(p)
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the browser or the device code (default: 300)",
    )


def _schedule_account(args: argparse.Namespace) -> int:
    from primsync.db.schedules import parse_every, set_schedule, switch_schedule

    if args.off and args.on:
        raise ConfigurationError("--off or --on, not both")
    if args.off or args.on:
        schedule = switch_schedule(open_db(args), args.address, on=args.on)
    else:
        if not args.folder or not args.accessible_to:
            raise ConfigurationError(
                "a schedule needs --folder (repeatable) and --accessible-to; --off or --on "
                "switch an existing one"
            )
        schedule = set_schedule(
            open_db(args),
            args.address,
            folders=args.folder,
            accessible_to=args.accessible_to,
            option=args.option,
            select=args.select,
            threshold=args.threshold,
            every_minutes=parse_every(args.every),
        )
    state = "on" if schedule.enabled else "off (sync --all leaves it)"
    print(
        f"schedule of {schedule.address}: {', '.join(schedule.folders)}, every "
        f"{schedule.every_minutes} min, {schedule.option}, {schedule.select}, accessible to "
        f"{schedule.accessible_to}; {state}"
    )
    return 0


def cmd_account(args: argparse.Namespace) -> int:
    from primsync.accounts import account_settings
    from primsync.db.accounts import is_registered, list_accounts, register_account

    if args.action == "add":
        engine = open_db(args)
        if is_registered(engine, args.address):
            raise ConfigurationError(
                f"{args.address.strip().lower()} is already registered "
                "(see `primsync account list`)"
            )
        found = _discover(args)
        settings, provider, note = account_settings(
            args.address,
            provider=args.provider or (found.preset if found else None),
            host=args.host or (found.host if found else None),
            port=args.port if args.port is not None else (found.port if found else None),
            security=args.security or (found.security if found else None),
            username=args.username or (found.username if found else None),
            auth=args.auth or (found.auth if found and not found.preset else None),
            ca_file=args.ca_file,
        )
        register_account(engine, settings, provider=provider, owner=args.owner)
        print(
            f"registered {settings.address}: {settings.host}:{settings.port} ({settings.security}),"
            f" login {settings.username}, auth {settings.auth}, owner {args.owner}"
        )
        if settings.auth == "xoauth2":
            print(f"next: primsync login {settings.address}")
        elif settings.auth == "app":
            print(f"next: primsync account test {settings.address} (the app's access, no sign-in)")
        elif note:
            print(f"password: {note}")
        return 0
    if args.action == "list":
        frame_out(list_accounts(open_db(args)), args.format)
        return 0
    if args.action == "remove":
        return _remove_account(args)
    if args.action == "schedule":
        return _schedule_account(args)
    if args.action == "edit":
        return _edit_account(args)
    if args.action == "password":
        return _store_password(args)
    return _test_account(args)


def _discover(args: argparse.Namespace) -> Discovery | None:
    """For an address of a company's own domain with neither --provider nor --host: the
    provider found through the domain's MX records or autoconfig document, said in words."""
    from primsync.accounts import guess_provider

    if args.provider or args.host or guess_provider(args.address) is not None:
        return None
    from primsync.discover import discover

    found = discover(args.address.strip().lower())
    if found is not None:
        print(f"found: {found.how}")
    return found


def _remove_account(args: argparse.Namespace) -> int:
    from primsync.credentials import forget_password, forget_sign_in
    from primsync.db.accounts import remove_account

    address = args.address.strip().lower()
    count = remove_account(
        open_db(args),
        address,
        delete_messages=args.delete_messages,
        move_messages_to=args.move_messages_to,
    )
    done = (
        f"; {count} imported messages "
        + ("deleted" if args.delete_messages else f"moved to {args.move_messages_to}")
        if count
        else ""
    )
    print(f"removed {address}{done}")
    forgot = ["password"] if forget_password(address) else []
    try:
        if forget_sign_in(address):
            forgot.append("sign-in")
    except ConfigurationError:  # no usable keyring: nothing of the account can be in it
        pass
    if forgot:
        print(f"the system keyring no longer holds its {' and '.join(forgot)}")
    return 0


def _edit_account(args: argparse.Namespace) -> int:
    from primsync.db.accounts import edit_account

    changes = {
        name: getattr(args, name)
        for name in ("host", "port", "security", "username", "auth", "ca_file", "owner")
        if getattr(args, name) is not None
    }
    if not changes:
        raise ConfigurationError(
            "nothing to change: give --host, --port, --security, --username, --auth, --ca-file "
            "or --owner"
        )
    changed = edit_account(open_db(args), args.address, **changes)
    address = args.address.strip().lower()
    if not changed:
        print(f"{address}: nothing changed")
    for name, (before, after) in changed.items():
        print(f"{address}: {name} {before or '(none)'} → {after or '(none)'}")
    return 0


def _store_password(args: argparse.Namespace) -> int:
    import getpass

    from primsync.credentials import store_password
    from primsync.db.accounts import stored_settings as registered

    settings = registered(open_db(args), args.address)
    if settings.auth == "xoauth2":
        raise ConfigurationError(
            f"{settings.address} signs in with OAuth2 (auth xoauth2), not a password: run "
            f"`primsync login {settings.address}`",
            account=settings.address,
        )
    if settings.auth == "app":
        raise ConfigurationError(
            f"{settings.address} is read with the organisation's app-only access (auth app): "
            "no password; the app's credential is configured (README: App-only access)",
            account=settings.address,
        )
    from primsync.credentials import system_keyring

    system_keyring()  # say there is no keyring before asking for the password
    if args.password_stdin:
        secret = stdin_secret(args)
    else:
        secret = getpass.getpass(f"password for {settings.address} (not shown): ")
    backend = store_password(settings.address, secret or "")
    print(
        f"the password of {settings.address} is in the system keyring ({backend}); "
        f"next: primsync account test {settings.address}"
    )
    return 0


def _test_account(args: argparse.Namespace) -> int:
    from primsync.db.accounts import stored_settings as registered
    from primsync.opening import check_account

    engine = open_db(args)
    settings = registered(engine, args.address)
    print(
        f"server:  {settings.host}:{settings.port} ({settings.security}), "
        f"login {settings.username}, auth {settings.auth}"
    )
    check = check_account(engine, settings.address, secret=stdin_secret(args))
    print(f"folders: {len(check.folders)}; sent folder: {check.sent_folder or 'none found'}")
    print(
        "offers:  "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in check.capabilities.items())
    )
    print(check.verdict)
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from primsync.opening import sign_in_account

    address = args.address.strip().lower()
    token = sign_in_account(
        open_db(args), address, show=lambda text: print(text, flush=True), timeout=args.timeout
    )
    until = f" (this access token until {token.expires_at:%H:%M} UTC)" if token.expires_at else ""
    print(
        f"signed in: {address}{until}; the sign-in is kept in the system keyring and "
        "each run gets a fresh access token by itself"
    )
    return 0

"""AccountStep: pick or add a mail account, test it, sign in — the notebook's first step.
Wiring only: the work is done by ``primsync.accounts``, ``primsync.db.accounts``,
``primsync.opening.check_account`` and ``primsync.signin``, as on the command line."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w
from sqlalchemy import Engine

from primsync.accounts import OAUTH_AUTHS, PRESETS, account_settings
from primsync.db import accounts
from primsync.db.accounts import list_accounts, register_account
from primsync.errors import (
    ConfigurationError,
    PrimsyncError,
    log_unexpected,
    unexpected_words,
)
from primsync.opening import check_account, open_account, sign_in_account
from primsync.signin import has_sign_in, stored_provider

__all__ = ["AccountStep"]

Secret = Any  # a password, an access token or a token provider
_LABELS = {"icloud": "iCloud", "outlook": "Microsoft 365 / Outlook.com"}
_PROVIDERS = [("from the address", ""), ("any IMAP server", "imap")] + [
    (_LABELS.get(name, name.capitalize()), name) for name in PRESETS
]


def _error(text: str) -> str:
    return f'<span style="color:#b71c1c">{html.escape(text)}</span>'


class AccountStep(w.VBox):
    """``account`` and ``secret`` are the chosen account and how to log in to it; ``on_change``
    hears of a new choice."""

    def __init__(
        self,
        engine: Engine,
        user: str,
        account: str,
        *,
        secret: Secret | None = None,
        on_change: Callable[[str, Secret | None], None] | None = None,
        raise_errors: bool = False,
    ):
        self.engine, self.user, self.raise_errors = engine, user, raise_errors
        self.account, self.secret = account, secret
        self._on_change = on_change
        self._refreshing = False
        self.errors: list[Exception] = []
        self.choice = w.Dropdown(description="Account", style={"description_width": "initial"})
        self.password = w.Password(
            description="Password",
            placeholder="kept in memory only",
            style={"description_width": "initial"},
        )
        self.test_button = w.Button(description="Test", icon="plug")
        self.sign_in_button = w.Button(description="Sign in", icon="sign-in")
        self.status = w.HTML()
        # the "add an account" form
        self.new_address = w.Text(description="Address", placeholder="ana@agency.example")
        self.new_provider = w.Dropdown(options=_PROVIDERS, value="", description="Provider")
        self.new_host = w.Text(description="Host", placeholder="from the provider")
        self.new_port = w.IntText(value=993, description="Port")
        self.new_security = w.Dropdown(options=["ssl", "starttls", "none"], description="Security")
        self.add_button = w.Button(description="Add account", icon="plus")
        adding = w.VBox(
            [
                self.new_address,
                self.new_provider,
                self.new_host,
                self.new_port,
                self.new_security,
                self.add_button,
            ]
        )
        self.add_form = w.Accordion(children=[adding], selected_index=None)
        self.add_form.set_title(0, "Add an account")
        super().__init__(
            [
                w.HBox([self.choice, self.password, self.test_button, self.sign_in_button]),
                self.status,
                self.add_form,
            ]
        )
        self.refresh(account)
        self.choice.observe(lambda change: self._chosen(change["new"]), names="value")
        self.password.observe(lambda _c: self._password_typed(), names="value")
        self.test_button.on_click(lambda _b: self._run(self.test))
        self.sign_in_button.on_click(lambda _b: self._run(self.sign_in))
        self.add_button.on_click(lambda _b: self._run(self.add))

    def _run(self, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            self.errors.append(exc)
            if isinstance(exc, PrimsyncError):
                text = str(exc)
            else:  # a bug: the traceback in a log file, as the command line does
                name = getattr(action, "__name__", "action")
                text = unexpected_words(exc, log_unexpected(f"account step: {name}"))
            self.status.value = _error(text)
            if self.raise_errors:
                raise

    def refresh(self, chosen: str | None = None) -> None:
        """Read the registered accounts again, and choose ``chosen`` (or keep the choice)."""
        addresses = list(list_accounts(self.engine)["address"])
        target = chosen or self.account
        self._refreshing = True
        try:
            self.choice.options = addresses
            if target in addresses:
                self.choice.value = target
        finally:
            self._refreshing = False
        self._show_kind()

    def _show_kind(self) -> None:
        settings = accounts.stored_settings(self.engine, self.account)
        oauth = settings.auth == "xoauth2"
        self.sign_in_button.layout.display = "" if oauth else "none"
        self.password.layout.display = "none" if settings.auth in OAUTH_AUTHS else ""
        if oauth and not has_sign_in(self.account) and self.secret is None:
            self.status.value = "Not signed in yet: press <b>Sign in</b>."

    def _chosen(self, address: str | None) -> None:
        if self._refreshing or not address or address == self.account:
            return
        self.account, self.secret = address, None
        self._refreshing = True
        try:
            self.password.value = ""  # the last account's password is not this one's
        finally:
            self._refreshing = False
        self.status.value = ""
        self._show_kind()
        self.secret = self._known_secret(address)
        if self.secret is None:  # nothing to log in with yet: ask, and wait for it
            if accounts.stored_settings(self.engine, address).auth == "password":
                self.status.value = (
                    f"Type the password of {html.escape(address)} (kept in memory only), or "
                    f"store it with <code>primsync account password {html.escape(address)}</code>."
                )
            return
        if self._on_change is not None:
            self._on_change(address, self.secret)

    def _known_secret(self, address: str) -> Secret | None:
        """A stored sign-in, or a secret from the keyring or the environment; None if none."""
        try:
            return open_account(self.engine, address, required=False).secret
        except ConfigurationError as exc:  # app-only access configured wrong: say what
            self.status.value = html.escape(str(exc))
            return None

    def _password_typed(self) -> None:
        if self._refreshing or not self.password.value:
            return
        self.secret = self.password.value
        if self._on_change is not None:
            self._on_change(self.account, self.secret)

    def test(self) -> str:
        """Log in, list the folders, name the sent folder and what the server offers."""
        self.status.value = f"Testing {html.escape(self.account)}…"
        check = check_account(self.engine, self.account, secret=self.secret)
        offers = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in check.capabilities.items())
        self.status.value = (
            f'<span style="color:#1b5e20">{html.escape(check.verdict)}</span>'
            f"<br>Server offers: {html.escape(offers)}"
        )
        return check.verdict

    def sign_in(self) -> None:
        """Sign the chosen Gmail or Microsoft 365 account in: the link (and code) to use appear
        here; what lasts goes to the system keyring, nothing to this notebook."""

        def show(text: str) -> None:
            link = html.escape(text)
            for word in text.split():
                if word.startswith("https://"):
                    safe = html.escape(word)
                    link = link.replace(safe, f'<a href="{safe}" target="_blank">{safe}</a>')
            self.status.value = link

        sign_in_account(self.engine, self.account, show=show)
        self.secret = stored_provider(self.account)
        self.status.value = f"Signed in: {html.escape(self.account)}."
        if self._on_change is not None:
            self._on_change(self.account, self.secret)

    def add(self) -> str:
        """Register the account of the form, owned by this notebook's user, and choose it."""
        settings, provider, note = account_settings(
            self.new_address.value,
            provider=self.new_provider.value or None,
            host=self.new_host.value or None,
            port=self.new_port.value if self.new_host.value else None,
            security=self.new_security.value if self.new_host.value else None,
        )
        register_account(self.engine, settings, provider=provider, owner=self.user)
        self.refresh(settings.address)
        self._chosen(settings.address)
        self.status.value = f"Added {html.escape(settings.address)}. " + (
            "Press <b>Sign in</b>."
            if settings.auth == "xoauth2"
            else "Type its password" + (f" ({html.escape(note)})." if note else ".")
        )
        return settings.address

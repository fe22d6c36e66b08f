"""Create or edit one profile; checked like the file, TLS files checked, then saved."""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Checkbox, Footer, Input, Label, Select, Static, TextArea

from ...formatting import printable
from ...profiles import (
    KEY_PASSWORD,
    ConfigChanged,
    ConfigError,
    ConfigIssue,
    Profile,
    ProfileSession,
)
from ...profiles.form import (
    ASK,
    FROM_ENV,
    IN_FILE,
    ProfileForm,
    form_from_profile,
    profile_from_form,
)
from ...profiles.resolve import tls_path
from ...profiles.tls_files import check_tls
from ...secret import Secret
from ..help_text import screen_help_markdown
from .help import HelpScreen

HELP = """\
Every field is optional except the name; an empty field means the built-in default.
Lists take one entry a line; routes and rewrites take `pattern address` a line, applied
in order. `listen` empty is the default listener; `none` listens nowhere.

Secrets: choose where each comes from. *Environment variable* names the variable;
*ask when connecting* prompts (the answer stays in memory); *store in the config
file* writes it in plaintext (the file is mode 0600) and is only for when you accept
that. A password field left empty keeps the one already stored.

`ctrl+s` checks and saves: the same checks as the config file, and the TLS files must
exist, be readable and parse, the key must match the certificate and the key password
must open the key (type it here to check it; it is saved only in *store* mode). The
first problem is shown above the form, naming its field."""

SECRET_MODES = [
    ("environment variable", FROM_ENV),
    ("ask when connecting", ASK),
    ("store in the config file", IN_FILE),
]


def widget_id(field: str) -> str:
    """``tls.certificate`` -> ``f-tls-certificate``."""
    return "f-" + field.replace(".", "-")


class ProfileFormScreen(ModalScreen[Profile | None]):
    """Dismissed with the saved profile, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True, id="profile_form.save"),
        Binding("escape", "cancel", "Cancel", id="profile_form.cancel"),
        Binding("f1", "help", "Help", id="profile_form.help"),
    ]

    def __init__(
        self,
        session: ProfileSession,
        template: Profile | None = None,
        *,
        replacing: str | None = None,
        title: str = "New profile",
    ) -> None:
        super().__init__()
        self.session = session
        # Stored secrets of the template are kept when their fields are left empty.
        self.template = template
        self.replacing = replacing
        self.title_text = title
        self.form = form_from_profile(template) if template is not None else ProfileForm()

    # ---------------------------------------------------------------- layout

    def _input(self, label: str, field: str, placeholder: str = "", **kw: object) -> ComposeResult:
        yield Label(label)
        value = getattr(self.form, field.replace("tls.", ""))
        yield Input(str(value), id=widget_id(field), placeholder=placeholder, **kw)  # type: ignore[arg-type]

    def _lines(self, label: str, field: str) -> ComposeResult:
        yield Label(label)
        yield TextArea(getattr(self.form, field), id=widget_id(field), classes="lines")

    def compose(self) -> ComposeResult:
        form = self.form
        with VerticalScroll(id="profile-form"):
            yield Static("", id="form-error")
            yield from self._input("name", "name", "e.g. prod")
            yield from self._input("messenger name (container id)", "messenger_name", "random")
            yield from self._lines("listen (one ~ address a line; empty: default; none)", "listen")
            yield from self._lines("subscribe (one source a line)", "subscribe")
            yield from self._input("compose address", "compose_address", "the listener's")
            yield from self._lines("routes (pattern address, a line each)", "routes")
            yield from self._lines("rewrites (pattern address, a line each)", "rewrites")
            with Horizontal(classes="form-row"):
                yield from self._input("timeout s", "timeout", "10", classes="short")
                yield from self._input("max messages", "max_messages", "10000", classes="short")
            with Horizontal(classes="form-row"):
                yield from self._input("in window", "incoming_window", "1024", classes="short")
                yield from self._input("out window", "outgoing_window", "10000", classes="short")
            yield from self._input("theme", "theme", "msgr-dark")
            yield Checkbox("retry failed connections", form.retry, id=widget_id("retry"))
            yield Static("Credentials", classes="form-section")
            yield from self._input("user", "user", "none")
            yield Label("password from")
            yield Select(
                SECRET_MODES, value=form.password_mode, allow_blank=False, id="f-password_mode"
            )
            yield from self._input("password variable", "password_env", "e.g. PROD_PASSWORD")
            yield Label("password (stored in plaintext, mode 0600)", id="password-label")
            yield Input(
                id=widget_id("password"),
                password=True,
                placeholder=self._secret_placeholder(key=False),
            )
            yield Static("TLS", classes="form-section")
            yield from self._input("certificate (PEM)", "tls.certificate", "none")
            yield from self._input("private key (PEM)", "tls.private_key", "none")
            yield Label("key password from")
            yield Select(
                SECRET_MODES,
                value=form.key_password_mode,
                allow_blank=False,
                id="f-tls-key_password_mode",
            )
            yield from self._input("key password variable", "tls.key_password_env", "")
            yield Label("key password (to check the key; stored only in store mode)")
            yield Input(
                id=widget_id("tls.key_password"),
                password=True,
                placeholder=self._secret_placeholder(key=True),
            )
            yield from self._input("trusted CA certificates (PEM)", "tls.trusted_certificates")
            yield Checkbox(
                "verify the server's host name", form.verify_hostname, id="f-tls-verify_hostname"
            )
            yield Checkbox(
                "allow PLAIN over unencrypted TCP",
                form.allow_insecure_plain,
                id="f-tls-allow_insecure_plain",
            )
        yield Footer()

    def _secret_placeholder(self, *, key: bool) -> str:
        template = self.template
        stored = None
        if template is not None:
            stored = template.tls.key_password if key else template.password
        return "stored: leave empty to keep" if stored is not None else ""

    def on_mount(self) -> None:
        scroll = self.query_one("#profile-form", VerticalScroll)
        scroll.border_title = printable(self.title_text)
        scroll.border_subtitle = "ctrl+s save · escape cancel · f1 help"
        self.query_one("#form-error", Static).display = False
        self._modes_changed()
        self.query_one("#f-name", Input).focus()

    @on(Select.Changed)
    def _modes_changed(self) -> None:
        # Only the fields the chosen source uses can be typed in.
        for mode_id, env_id in (
            ("#f-password_mode", "#f-password_env"),
            ("#f-tls-key_password_mode", "#f-tls-key_password_env"),
        ):
            mode = self.query_one(mode_id, Select).value
            self.query_one(env_id, Input).disabled = mode != FROM_ENV
        password_mode = self.query_one("#f-password_mode", Select).value
        self.query_one("#f-password", Input).disabled = password_mode != IN_FILE

    # ------------------------------------------------------------------ form

    def read_form(self) -> ProfileForm:
        values: dict[str, object] = {}
        for spec in fields(ProfileForm):
            name = spec.name
            if name == "extra":
                continue
            field = f"tls.{name}" if name in _TLS_FIELDS else name
            widget = self.query_one(f"#{widget_id(field)}", Widget)
            if isinstance(widget, Input):
                values[name] = widget.value
            elif isinstance(widget, TextArea):
                values[name] = widget.text
            elif isinstance(widget, (Checkbox,)):
                values[name] = widget.value
            elif isinstance(widget, Select):
                values[name] = str(widget.value)
        for secret_name in ("password", "key_password"):
            typed = str(values[secret_name])
            values[secret_name] = Secret(typed) if typed else None
        return ProfileForm(**values)  # type: ignore[arg-type]

    def show_error(self, field: str | None, message: str) -> None:
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        error = self.query_one("#form-error", Static)
        label = f"{field}: " if field else ""
        error.update(printable(f"{label}{message}"))
        error.display = True
        if field:
            matches = self.query(f"#{widget_id(field)}")
            if matches:
                matches.first().add_class("-invalid")
                matches.first().focus()
        self.query_one("#profile-form", VerticalScroll).scroll_home(animate=False)

    # --------------------------------------------------------------- actions

    def action_save(self) -> None:
        form = self.read_form()
        taken = [name for name in self.session.config.names if name != self.replacing]
        profile, issues = profile_from_form(form, self.template, taken)
        if profile is None:
            self._show_issue(issues[0], form.name.strip())
            return
        key_password = self._key_password(form, profile)
        tls = profile.tls
        base = self.session.base_dir
        problems = check_tls(
            certificate=tls_path(tls.certificate, base),
            private_key=tls_path(tls.private_key, base),
            key_password=key_password.reveal() if key_password is not None else None,
            trusted_certificates=tls_path(tls.trusted_certificates, base),
        )
        if problems:
            self.show_error(f"tls.{problems[0].field}", problems[0].message)
            return
        config = self.session.config.with_profile(profile, replacing=self.replacing)
        try:
            self.session.save(config)
        except (ConfigError, ConfigChanged, OSError) as error:
            self.show_error(None, f"not saved: {error}")
            return
        if key_password is not None and form.key_password_mode != IN_FILE:
            self.session.remember(profile.name, KEY_PASSWORD, key_password)
        self.dismiss(profile)

    def _show_issue(self, issue: ConfigIssue, name: str) -> None:
        field = issue.key.removeprefix(f"profiles.{name}.")
        if field.startswith("profiles."):
            field = "name"
        self.show_error(field, issue.message)

    def _key_password(self, form: ProfileForm, profile: Profile) -> Secret | None:
        if form.key_password is not None:
            return form.key_password
        tls = profile.tls
        if tls.key_password is not None:
            return tls.key_password
        if tls.key_password_env and tls.key_password_env in self.session.env:
            return Secret(self.session.env[tls.key_password_env])
        return None

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        keymap = getattr(self.app, "keymap", {})
        self.app.push_screen(
            HelpScreen(screen_help_markdown("Edit profile", HELP, ProfileFormScreen, keymap))
        )


_TLS_FIELDS = {
    "certificate",
    "private_key",
    "key_password_mode",
    "key_password_env",
    "key_password",
    "trusted_certificates",
    "verify_hostname",
    "allow_insecure_plain",
}

"""The profiles of the config file: connect to one, create, edit, duplicate, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ...formatting import printable
from ...profiles import Config, ConfigChanged, ConfigError, Profile, ProfileSession
from ...profiles.display import key_password_source, masked_toml, password_source
from ..help_text import screen_help_markdown
from .confirm import ConfirmScreen
from .help import HelpScreen
from .profile_form import ProfileFormScreen

HELP = """\
Profiles live in one TOML file (shown at the top). `enter` connects to the
highlighted profile: the running Messenger stops cleanly (its connections closed)
and a new one starts, with empty panes. Passwords that are neither in the file nor
in the environment are asked for first, and kept in memory only.

Saving rewrites the file atomically (mode 0600) and keeps the previous version as
`config.toml.bak`; comments in the file are not kept. A file with errors is never
overwritten: fix it by hand, the errors name file, line and key."""


class ProfilesScreen(ModalScreen[str | None]):
    """Dismissed with the name of the profile to connect to, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "connect", "Connect", id="profiles.connect", priority=True),
        Binding("n", "new", "New", id="profiles.new"),
        Binding("e", "edit", "Edit", id="profiles.edit"),
        Binding("c", "duplicate", "Duplicate", id="profiles.duplicate"),
        Binding("d,delete", "delete", "Delete", id="profiles.delete"),
        Binding("s", "make_default", "Set default", id="profiles.default"),
        Binding("escape,q,f2", "close", "Close", id="profiles.close"),
        Binding("f1", "help", "Help", id="profiles.help"),
    ]

    def __init__(self, session: ProfileSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical(id="profiles-panel"):
            yield Static("", id="profiles-error")
            with Horizontal(id="profiles-body"):
                yield OptionList(id="profile-list")
                with VerticalScroll(id="profile-detail-scroll"):
                    yield Static("", id="profile-detail")
        yield Footer()

    def on_mount(self) -> None:
        panel = self.query_one("#profiles-panel", Vertical)
        panel.border_title = "Profiles"
        panel.border_subtitle = printable(str(self.session.path))
        self.refresh_list(select=self.session.active)
        self.query_one("#profile-list", OptionList).focus()

    # ------------------------------------------------------------------ view

    def refresh_list(self, select: str | None = None) -> None:
        session = self.session
        error = self.query_one("#profiles-error", Static)
        if session.error is not None:
            error.update(
                escape(
                    "The config file has errors; it is not used and will not be overwritten "
                    f"until they are fixed by hand:\n{printable(str(session.error))}"
                )
            )
            error.display = True
        else:
            error.display = False
        options = self.query_one("#profile-list", OptionList)
        options.clear_options()
        config = session.config
        for profile in config.profiles:
            marks = []
            if profile.name == session.active:
                marks.append("connected")
            if profile.name == config.default_profile:
                marks.append("default")
            suffix = f" ({', '.join(marks)})" if marks else ""
            options.add_option(Option(escape(printable(profile.name)) + suffix, id=profile.name))
        if not config.profiles:
            self.query_one("#profile-detail", Static).update(
                "No profiles yet: press n to create one."
            )
            return
        names = config.names
        index = names.index(select) if select in names else 0
        options.highlighted = index
        self._show(config.profiles[index])

    @on(OptionList.OptionHighlighted, "#profile-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        profile = self.session.config.get(event.option.id or "")
        if profile is not None:
            self._show(profile)

    def _show(self, profile: Profile) -> None:
        lines = [f"# password: {password_source(profile, self.session.env)}"]
        key_source = key_password_source(profile, self.session.env)
        if key_source is not None:
            lines.append(f"# key password: {key_source}")
        lines += masked_toml(profile).splitlines()
        # printable() shows control characters, newlines included: apply it line by line.
        text = "\n".join(printable(line) for line in lines)
        self.query_one("#profile-detail", Static).update(escape(text))

    @property
    def current(self) -> Profile | None:
        options = self.query_one("#profile-list", OptionList)
        if options.highlighted is None or options.option_count == 0:
            return None
        option = options.get_option_at_index(options.highlighted)
        return self.session.config.get(option.id or "")

    # --------------------------------------------------------------- actions

    def _writable(self) -> bool:
        if not self.session.writable:
            self.notify(
                "the config file has errors: fix them by hand first (it is never overwritten)",
                severity="error",
            )
        return self.session.writable

    def _changed(self, what: str, select: str | None) -> None:
        self.refresh_list(select=select)
        self.notify(printable(what), timeout=4)

    def action_connect(self) -> None:
        profile = self.current
        if profile is not None:
            self.dismiss(profile.name)

    def action_new(self) -> None:
        if self._writable():
            self.app.push_screen(ProfileFormScreen(self.session), self._form_closed)

    def action_edit(self) -> None:
        profile = self.current
        if profile is not None and self._writable():
            form = ProfileFormScreen(
                self.session, profile, replacing=profile.name, title=f"Edit {profile.name}"
            )
            self.app.push_screen(form, self._form_closed)

    def action_duplicate(self) -> None:
        profile = self.current
        if profile is None or not self._writable():
            return
        name = f"{profile.name}-copy"
        while self.session.config.get(name) is not None:
            name += "-copy"
        form = ProfileFormScreen(
            self.session, replace(profile, name=name), title=f"Copy of {profile.name}"
        )
        self.app.push_screen(form, self._form_closed)

    def _form_closed(self, profile: Profile | None) -> None:
        if profile is not None:
            self._changed(f"saved profile {profile.name}", profile.name)

    def action_delete(self) -> None:
        profile = self.current
        if profile is None or not self._writable():
            return
        question = f"Delete profile {profile.name!r} from {self.session.path}?"
        if profile.name == self.session.active:
            question += " (it stays connected until you switch)"

        def answered(yes: bool | None) -> None:
            if yes and self._apply(self.session.config.without_profile(profile.name)):
                self._changed(f"deleted profile {profile.name}", None)

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_make_default(self) -> None:
        profile = self.current
        if profile is not None and self._writable():
            config = self.session.config.with_default(profile.name)
            if self._apply(config):
                self._changed(f"{profile.name} is the default profile", profile.name)

    def _apply(self, config: Config) -> bool:
        try:
            self.session.save(config)
        except (ConfigError, ConfigChanged, OSError) as error:
            self.notify(printable(f"not saved: {error}"), severity="error", timeout=10)
            return False
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        keymap = getattr(self.app, "keymap", {})
        self.app.push_screen(
            HelpScreen(screen_help_markdown("Profiles", HELP, ProfilesScreen, keymap))
        )

"""The profile screen, the profile form and the password prompt, driven with keys."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

from msgr_tui.bridge import BridgeState
from msgr_tui.cli import build_parser, prepare_startup
from msgr_tui.messenger.subscription import SubscriptionState
from msgr_tui.profiles import ProfileSession, read_config
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.confirm import ConfirmScreen
from msgr_tui.ui.screens.help import HelpScreen
from msgr_tui.ui.screens.password_prompt import PasswordScreen
from msgr_tui.ui.screens.profile_form import ProfileFormScreen
from msgr_tui.ui.screens.profiles import ProfilesScreen
from tests.certs import CertificateSet
from tests.conftest import RabbitMQ
from tests.ui.story import Notifications, listening, main, quit_app, screen_text, type_text, until

SIZE = (110, 40)


def app_for(
    path: Path,
    name: str | None,
    env: dict[str, str] | None = None,
    *,
    start_messenger: bool = True,
) -> MsgrTuiApp:
    session = ProfileSession(path, env=env or {})
    session.load()
    session.start(name)
    settings = session.settings(name) if name else session.default_settings()
    return MsgrTuiApp(settings, profiles=session, start_messenger=start_messenger)


async def open_profiles(pilot: Pilot, app: MsgrTuiApp) -> ProfilesScreen:
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(app.screen, ProfilesScreen), "the profile screen")
    assert isinstance(app.screen, ProfilesScreen)
    return app.screen


async def highlight(pilot: Pilot, screen: ProfilesScreen, name: str) -> None:
    options = screen.query_one("#profile-list", OptionList)
    index = next(
        i for i in range(options.option_count) if options.get_option_at_index(i).id == name
    )
    options.highlighted = index
    detail = screen.query_one("#profile-detail", Static)
    await until(pilot, lambda: f"[profiles.{name}]" in str(detail.render()), f"{name} shown")


def fill(form: ProfileFormScreen, **values: str) -> None:
    for field, value in values.items():
        widget = form.query_one(f"#f-{field.replace('.', '-')}")
        if isinstance(widget, Input):
            widget.value = value
        else:
            widget.text = value  # type: ignore[attr-defined]


def form_error(form: ProfileFormScreen) -> str:
    error = form.query_one("#form-error", Static)
    return str(error.render()) if error.display else ""


async def save_form(pilot: Pilot, app: MsgrTuiApp) -> None:
    await pilot.press("ctrl+s")
    await until(pilot, lambda: not isinstance(app.screen, ProfileFormScreen), "the form saved")


FIRST = """\
[profiles.first]
messenger_name = "first-tui"
listen = ["amqp://~127.0.0.1:0"]
"""


async def test_create_edit_switch_and_delete_profiles(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FIRST)
    app = app_for(path, "first")
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        first = main(app)
        first_bridge = first.bridge
        screen = await open_profiles(pilot, app)
        assert "first (connected)" in screen_text(app)
        detail = str(screen.query_one("#profile-detail", Static).render())
        assert "[profiles.first]\nmessenger_name = " in detail  # lines, not escaped newlines

        # Create.
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ProfileFormScreen), "the form")
        form = app.screen
        assert isinstance(form, ProfileFormScreen)
        await type_text(pilot, "second")
        fill(form, messenger_name="second-tui", listen="amqp://~127.0.0.1:0", max_messages="lots")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: form_error(form) != "", "the inline error")
        assert form_error(form).startswith("max_messages: expected a whole number")
        assert form.query_one("#f-max_messages").has_class("-invalid")
        assert "second" not in path.read_text()  # nothing saved
        fill(form, max_messages="500")
        await save_form(pilot, app)
        saved = read_config(path).config
        assert saved.names == ["first", "second"]
        assert saved.get("second").max_messages == 500  # type: ignore[union-attr]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (tmp_path / "config.toml.bak").read_text() == FIRST

        # Edit.
        await highlight(pilot, screen, "second")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ProfileFormScreen), "the edit form")
        form = app.screen
        assert isinstance(form, ProfileFormScreen)
        assert form.query_one("#f-max_messages", Input).value == "500"
        fill(form, subscribe="amqp://127.0.0.1:1/nowhere\n")
        await save_form(pilot, app)
        assert read_config(path).config.get("second").subscribe == (  # type: ignore[union-attr]
            "amqp://127.0.0.1:1/nowhere",
        )

        # Duplicate.
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ProfileFormScreen), "the copy form")
        assert app.screen.query_one("#f-name", Input).value == "second-copy"
        await save_form(pilot, app)
        assert read_config(path).config.names == ["first", "second", "second-copy"]

        # Switch: the old Messenger stops cleanly, a new one starts with the new profile.
        await highlight(pilot, screen, "second")
        await pilot.press("enter")
        await until(pilot, lambda: app.settings.profile == "second", "the switch")
        # A fresh main screen for the new session; the old one is gone with its Messenger.
        second = main(app)
        assert second is not first
        assert first not in app.screen_stack and not first.is_attached
        assert first_bridge is not None and first_bridge.messenger.stopped
        await listening(pilot, app)
        assert second.bridge is not None and second.bridge.name == "second-tui"
        assert not second.bridge_stopped
        assert second.incoming.max_messages == 500  # the panes are built for the profile
        rows = second.subscriptions.rows
        assert any(row.source == "amqp://127.0.0.1:1/nowhere" for row in rows)

        # Delete (after a confirmation).
        screen = await open_profiles(pilot, app)
        assert "second (connected)" in screen_text(app)
        await highlight(pilot, screen, "first")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: "first" not in read_config(path).config.names, "deleted")
        assert read_config(path).config.names == ["second", "second-copy"]
        await pilot.press("escape")
        await quit_app(pilot, app)
        await until(pilot, lambda: main(app).bridge_stopped, "a clean stop")


async def test_tls_fields_are_checked_before_saving_naming_the_field(
    tmp_path: Path, certs: CertificateSet
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FIRST)
    app = app_for(path, "first", start_messenger=False)  # this test is about the form only
    async with app.run_test(size=SIZE) as pilot:
        await open_profiles(pilot, app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ProfileFormScreen), "the form")
        form = app.screen
        assert isinstance(form, ProfileFormScreen)
        fill(form, name="secure", **{"tls.certificate": certs.client_cert})
        fill(form, **{"tls.private_key": certs.server_key})
        before = path.read_bytes()
        checks = [
            ({}, "tls.private_key:", "does not match"),
            ({"tls.private_key": certs.client_key_encrypted}, "tls.key_password:", "needed"),
            ({"tls.key_password": "wrong"}, "tls.key_password:", "does not open"),
            ({"tls.key_password": certs.key_password}, "tls.trusted_certificates:", "PEM"),
        ]
        fill(form, **{"tls.trusted_certificates": certs.client_key})
        for changes, field, words in checks:
            fill(form, **changes)
            await pilot.press("ctrl+s")
            await until(pilot, lambda field=field: form_error(form).startswith(field), field)
            assert words in form_error(form)
            assert path.read_bytes() == before
        fill(form, **{"tls.trusted_certificates": str(tmp_path / "missing-ca.pem")})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "does not exist" in form_error(form), "missing CA")
        assert form.query_one("#f-tls-trusted_certificates").has_class("-invalid")
        fill(form, **{"tls.trusted_certificates": certs.ca})
        await save_form(pilot, app)
        text = path.read_text()
        assert certs.key_password not in text  # "ask when connecting" is the default mode
        profile = read_config(path).config.get("secure")
        assert profile is not None and profile.tls.private_key == certs.client_key_encrypted
        # The key password typed for the check is kept in memory: no prompt when connecting.
        assert app.profile_switcher is not None
        assert app.profile_switcher.session.requests("secure") == []


async def test_the_profile_screen_has_help(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FIRST)
    app = app_for(path, "first", start_messenger=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "main help")
        assert "app.profiles" in app.screen.markdown  # type: ignore[attr-defined]
        await pilot.press("escape")
        await open_profiles(pilot, app)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "profiles help")
        markdown = app.screen.markdown  # type: ignore[attr-defined]
        assert "profiles.connect" in markdown and "config.toml.bak" in markdown
        await pilot.press("escape")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ProfileFormScreen), "the form")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "form help")
        assert "profile_form.save" in app.screen.markdown  # type: ignore[attr-defined]


async def test_a_broken_config_shows_its_error_and_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.a]\nuser = 'x'\nincoming_window = -4\n")
    before = path.read_bytes()
    args = build_parser().parse_args(["--config", str(path), "--listen", "amqp://~127.0.0.1:0"])
    settings, session, notices = prepare_startup(args)  # type: ignore[misc]
    app = MsgrTuiApp(settings, profiles=session, notices=notices)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes.hook) as pilot:
        await listening(pilot, app)  # running on the defaults
        assert f"{path}:3: profiles.a.incoming_window" in notices[0]
        screen = await open_profiles(pilot, app)
        error = screen.query_one("#profiles-error", Static)
        assert error.display and "incoming_window" in str(error.render())
        await pilot.press("n")
        # The key was handled (it said why not) and no form came up for it.
        await until(pilot, lambda: notes.saying("fix them by hand first"), "the refusal")
        assert isinstance(app.screen, ProfilesScreen)
        await pilot.press("escape")
        await quit_app(pilot, app)
        await until(pilot, lambda: main(app).bridge_stopped, "stopped")
    assert path.read_bytes() == before
    assert not (tmp_path / "config.toml.bak").exists()


async def test_escape_at_the_password_prompt_does_not_connect(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.p]\nlisten = ["amqp://~127.0.0.1:0"]\nuser = "u"\n')
    app = app_for(path, "p")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen), "the prompt")
        await pilot.press("escape")
        await until(
            pilot, lambda: main(app).status_bar.state is BridgeState.NOT_CONNECTED, "not connected"
        )
        assert "not connected" in screen_text(app)
        assert main(app).bridge is None


@pytest.mark.rabbitmq
async def test_the_password_asked_at_connect_time_logs_in_to_rabbitmq(
    tmp_path: Path, rabbitmq: RabbitMQ
) -> None:
    source = f"amqp://{rabbitmq.host}:{rabbitmq.port}//queue/msgr-tui-prompt-{uuid.uuid4().hex}"
    path = tmp_path / "config.toml"
    path.write_text(
        f'[profiles.rabbit]\nlisten = []\nsubscribe = ["{source}"]\n'
        'user = "guest"\npassword_env = "TEST_UNSET_PASSWORD"\n'
        # PLAIN over unencrypted TCP is refused unless the profile allows it.
        "[profiles.rabbit.tls]\nallow_insecure_plain = true\n"
    )
    app = app_for(path, "rabbit", env={})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen), "the prompt")
        assert "$TEST_UNSET_PASSWORD is not set" in screen_text(app)
        await type_text(pilot, "guest")
        assert "guest" not in screen_text(app).replace("user 'guest'", "")  # masked as typed
        await pilot.press("enter")

        def attached() -> bool:
            rows = main(app).subscriptions.rows  # the session's screen once connected
            return any(r.source == source and r.state is SubscriptionState.ATTACHED for r in rows)

        await until(pilot, attached, "attached with the typed password", timeout=30)
        await quit_app(pilot, app)
        await until(pilot, lambda: main(app).bridge_stopped, "stopped")
    assert b"guest\n" not in path.read_bytes().replace(b'"guest"', b"")

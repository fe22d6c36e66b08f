"""``msgr-tui profiles list|show`` and how ``msgr-tui`` picks its profile at startup."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from msgr_tui.cli import build_parser, main, prepare_startup
from msgr_tui.profiles import ProfileSession

CONFIG = """\
default_profile = "prod"

[profiles.dev]
listen = ["amqp://~127.0.0.1:0"]
user = "dev"
store_password_in_file = true
password = "dev-plaintext-pw"

[profiles.prod]
subscribe = ["amqp://broker.example/orders"]
theme = "msgr-light"
user = "ops"
password_env = "TEST_PROD_PW"

[profiles.prod.tls]
trusted_certificates = "/etc/ssl/ca.pem"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_marks_the_default_and_summarises(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "profiles", "list", "--config", str(config))
    assert status == 0 and err == ""
    assert out.splitlines() == [
        "  dev   listen: amqp://~127.0.0.1:0; user: dev",
        "* prod  listen: default; subscribe: amqp://broker.example/orders; user: ops; tls",
    ]


def test_show_masks_a_stored_password(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "profiles", "--config", str(config), "show", "dev")
    assert status == 0
    assert "dev-plaintext-pw" not in out
    assert 'password = "********"' in out
    assert "# password: ******** (stored in the config file)" in out


def test_show_defaults_to_default_profile_and_never_prints_env_values(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_PROD_PW", "value-from-the-environment")
    status, out, _ = run_cli(capsys, "profiles", "show", "--config", str(config))
    assert status == 0
    assert out.startswith("# profile 'prod' (default_profile) in ")
    assert "# password: $TEST_PROD_PW (set)" in out
    assert "value-from-the-environment" not in out
    assert 'trusted_certificates = "/etc/ssl/ca.pem"' in out


def test_show_an_unknown_profile_exits_1_listing_the_known_ones(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "profiles", "show", "nope", "--config", str(config))
    assert status == 1 and out == ""
    assert "no profile 'nope'" in err and "(profiles: dev, prod)" in err


def test_a_broken_config_exits_3_with_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.a]\nuser = 'x'\ntimeout = 'soon'\n")
    status, out, err = run_cli(capsys, "profiles", "list", "--config", str(path))
    assert status == 3 and out == ""
    assert f"{path}:3: profiles.a.timeout: expected a number of seconds" in err


def test_the_environment_variable_names_the_config_file(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSGR_TUI_CONFIG", str(config))
    status, out, _ = run_cli(capsys, "profiles", "list")
    assert status == 0 and "prod" in out


def test_no_config_file_lists_nothing_and_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.toml"
    status, out, err = run_cli(capsys, "profiles", "list", "--config", str(missing))
    assert status == 0 and out == ""
    assert f"no config file at {missing}" in err


# ------------------------------------------------------------- TUI startup


def startup(*argv: str) -> Any:
    args: argparse.Namespace = build_parser().parse_args(list(argv))
    return prepare_startup(args)


def test_startup_uses_default_profile_and_command_line_options(config: Path) -> None:
    settings, session, notices = startup("--config", str(config))
    assert settings.profile == "prod" and settings.theme == "msgr-light"  # the profile's
    assert settings.subscribe == ("amqp://broker.example/orders",)
    # Options on the command line win over the profile, key by key.
    settings, session, notices = startup(
        "--config", str(config), "--theme", "msgr-16", "--name", "console-2"
    )
    assert isinstance(session, ProfileSession)
    assert settings.profile == "prod"
    assert (settings.theme, settings.messenger_name) == ("msgr-16", "console-2")
    assert settings.subscribe == ("amqp://broker.example/orders",)  # not overridden: kept
    assert session.active == "prod" and notices == []
    # The password is not in the environment: the app will ask for it.
    assert [request.key for request in session.requests("prod")] == ["password"]


def test_startup_with_profile_flag(config: Path) -> None:
    settings, _, _ = startup("--config", str(config), "--profile", "dev")
    assert settings.profile == "dev" and settings.password == "dev-plaintext-pw"


def test_startup_with_an_unknown_profile_is_a_usage_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert startup("--config", str(config), "-p", "typo") == 1
    assert "no profile 'typo'" in capsys.readouterr().err


def test_a_broken_config_starts_on_defaults_with_the_error_as_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[profiles.prod]\nuser = 'x'\nlisten = 'amqp://~h'\n")
    settings, session, notices = startup("--config", str(path), "--profile", "prod")
    assert settings.profile is None and settings.listen_fallback is True
    assert not session.writable
    assert len(notices) == 1
    assert f"{path}:3: profiles.prod.listen: expected an array" in notices[0]


def test_browse_and_selector_on_the_command_line_reach_the_session(config: Path) -> None:
    settings, _, _ = startup(
        "--config",
        str(config),
        "--browse",
        "amqp://broker.example//amq/queue/audit",
        "--selector",
        "amqp://broker.example/orders",
        "region = 'eu'",
    )
    assert settings.browse == ("amqp://broker.example//amq/queue/audit",)
    assert settings.selectors == (("amqp://broker.example/orders", "region = 'eu'"),)
    assert settings.subscribe == ("amqp://broker.example/orders",)  # the profile's, kept

"""``msgr-tui doctor``: what it reports about the installation, the files, and connections.

Each test runs doctor as a user would (a separate process) with its own config
directory (``$XDG_CONFIG_HOME``, so the user's own themes and config are never
read) and its own state directory (the autouse ``state_dir`` fixture).
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import pytest

from msgr_tui import __version__
from tests.command_line import msgr_tui
from tests.helpers import ThreadedPeer, closed_port


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    home = tmp_path / "xdg-config"
    home.mkdir()
    return home


def doctor(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``msgr-tui doctor ARGS`` with its own config directory and no config file."""
    config = str(config_home / "msgr-tui" / "config.toml")
    return msgr_tui("doctor", "--config", config, *args, env={"XDG_CONFIG_HOME": str(config_home)})


def report_lines(out: str) -> dict[str, list[str]]:
    """Each check's value, then its detail lines, by name (see connect_lines for "connect")."""
    checks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in out.splitlines():
        if line.startswith(" "):
            current.append(line.strip())
        else:
            name, _, value = line.partition(":")
            current = checks[name] = [value.strip()]
    return checks


def connect_lines(out: str) -> list[str]:
    """The value of every "connect" line, in order."""
    lines = out.splitlines()
    return [line.partition(":")[2].strip() for line in lines if line.startswith("connect:")]


def test_reports_versions_and_tls_aligned(config_home: Path) -> None:
    result = doctor(config_home)

    assert result.returncode == 0, result.stdout + result.stderr
    checks = report_lines(result.stdout)
    assert checks["msgr-tui"] == [__version__]
    assert checks["Python"][0].startswith(f"{platform.python_version()} (")
    assert checks["python-qpid-proton"] == [importlib.metadata.version("python-qpid-proton")]
    assert checks["Textual"] == [importlib.metadata.version("textual")]
    assert checks["TLS"][0].startswith("yes")
    assert checks["SASL PLAIN"][0].startswith("yes")
    assert checks["config file"][0].endswith("(not there: the defaults apply)")
    assert checks["recovery files"] == ["none"]
    assert checks["result"] == ["ok"]
    # One column for every value, whatever the length of the name.
    starts = {
        len(line) - len(line.split(":", 1)[1].lstrip())
        for line in result.stdout.splitlines()
        if not line.startswith(" ")
    }
    assert len(starts) == 1, result.stdout


def test_a_broken_config_file_is_reported_with_its_line(config_home: Path) -> None:
    config = config_home / "msgr-tui" / "config.toml"
    config.parent.mkdir()
    config.write_text('default_profile = "a"\n[profiles.a]\ntimeout = "10s"\n')

    result = doctor(config_home)

    assert result.returncode == 1, result.stdout + result.stderr
    checks = report_lines(result.stdout)
    assert checks["config file"][0] == (
        f"{config}: has errors, so the app runs on the defaults until they are fixed"
    )
    assert checks["config file"][1:] == [
        f"{config}:3: profiles.a.timeout: expected a number of seconds, got a string ('10s')"
    ]
    assert checks["result"] == ["something is wrong: config file"]


def test_a_broken_theme_file_is_named(config_home: Path) -> None:
    themes = config_home / "msgr-tui" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    broken = themes / "broken.toml"
    broken.write_text('name = "broken"\nprimary = \n')

    result = doctor(config_home)

    assert result.returncode == 1, result.stdout + result.stderr
    checks = report_lines(result.stdout)
    themes_line, *refused = checks["themes"]
    assert themes_line.startswith("mine, msgr-16, msgr-dark, msgr-light (5 files;")
    assert themes_line.endswith("; 1 refused")
    assert len(refused) == 1 and refused[0].startswith(f"{broken}: not valid TOML: ")
    assert "line 2" in refused[0]
    assert checks["result"] == ["something is wrong: themes"]


def test_connect_to_a_listening_peer_says_connected(config_home: Path) -> None:
    with ThreadedPeer(name="doctor-peer") as peer:
        result = doctor(config_home, "--connect", f"{peer.address}/orders")

    assert result.returncode == 0, result.stdout + result.stderr
    assert connect_lines(result.stdout) == [
        f"{peer.address}/orders: connected to 127.0.0.1:{peer.port}, "
        "container 'doctor-peer', SASL ANONYMOUS"
    ]
    # Trying a connection sends nothing.
    assert peer.received == [] and peer.errors == []


def test_connect_to_a_closed_port_says_refused(config_home: Path) -> None:
    port = closed_port()

    result = doctor(config_home, "--connect", f"amqp://127.0.0.1:{port}/orders")

    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = connect_lines(result.stdout)
    assert line.startswith(f"amqp://127.0.0.1:{port}/orders: refused: ")
    assert report_lines(result.stdout)["result"] == ["something is wrong: connect"]


def test_connect_tries_every_address_of_a_profile(config_home: Path) -> None:
    port = closed_port()
    config = config_home / "msgr-tui" / "config.toml"
    config.parent.mkdir()
    with ThreadedPeer(name="profile-peer") as peer:
        config.write_text(
            "[profiles.t]\n"
            f'subscribe = ["{peer.address}/in"]\n'
            f'compose_address = "amqp://127.0.0.1:{port}/out"\n'
        )
        result = doctor(config_home, "-p", "t", "--connect")

    assert result.returncode == 1, result.stdout + result.stderr
    assert report_lines(result.stdout)["profiles"] == ["t"]
    subscribed, composed = connect_lines(result.stdout)
    assert subscribed.startswith(f"{peer.address}/in (subscribe): connected to ")
    assert subscribed.endswith("; source attached")
    assert composed.startswith(f"amqp://127.0.0.1:{port}/out (compose): refused: ")


def test_connect_without_an_address_or_profile_is_a_usage_error(config_home: Path) -> None:
    result = doctor(config_home, "--connect")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "--connect needs an address, or -p NAME" in result.stderr

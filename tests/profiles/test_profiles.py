"""Profiles in the TOML config file: read, checked, written safely, resolved to Settings."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from msgr_tui.profiles import (
    KEY_PASSWORD,
    PASSWORD,
    Config,
    ConfigChanged,
    ConfigError,
    ConfigRefused,
    Profile,
    ProfileSession,
    SecretRequest,
    TLSProfile,
    read_config,
    resolve,
    secret_requests,
    write_config,
)
from msgr_tui.profiles.model import PROFILE_KEYS, TLS_KEYS, TOP_LEVEL_KEYS
from msgr_tui.secret import MASK, Secret
from msgr_tui.settings import DEFAULT_LISTEN, Settings
from tests.certs import CertificateSet

# Every key the file format has, each set to something other than its default.
FULL = """\
# A hand-written file: comments and layout are the writer's to drop.
default_profile = "prod"

[keymap]
"incoming.accept" = "y"
"app.send" = "ctrl+enter,ctrl+s"

[profiles.local]
listen = ["amqp://~127.0.0.1:0"]

[profiles.prod]
messenger_name = "ops-console"
listen = ["amqps://~0.0.0.0:5671", "amqp://~127.0.0.1:5672"]
subscribe = ["amqps://broker.example:5671/orders", "amqp://peer/news"]
browse = ["amqps://broker.example:5671//amq/queue/audit"]
selectors = [["amqps://broker.example:5671/orders", "region = 'eu'"]]
compose_address = "amqps://broker.example:5671/replies"
routes = [["amqp://orders/*", "amqps://broker.example:5671/$1"], ["*", "amqp://relay/$1"]]
rewrites = [["amqp://%@broker.example/*", "amqp://broker.example/$1"]]
timeout = 7.5
incoming_window = 0
outgoing_window = 50
max_messages = 2000
theme = "msgr-light"
user = "ops"
password_env = "PROD_AMQP_PASSWORD"
retry = false

[profiles.prod.tls]
certificate = "~/certs/client.pem"
private_key = "certs/client-key.pem"
key_password_env = "PROD_KEY_PASSWORD"
trusted_certificates = "/etc/ssl/ca.pem"
verify_hostname = false
allow_insecure_plain = true

[profiles.stored]
user = "robot"
store_password_in_file = true
password = "in-the-file"

[profiles.stored.tls]
certificate = "client.pem"
private_key = "client-key.pem"
store_key_password_in_file = true
key_password = "key-in-the-file"
"""

# What FULL says, key by key.
EXPECTED = Config(
    profiles=(
        Profile("local", listen=("amqp://~127.0.0.1:0",)),
        Profile(
            "prod",
            messenger_name="ops-console",
            listen=("amqps://~0.0.0.0:5671", "amqp://~127.0.0.1:5672"),
            subscribe=("amqps://broker.example:5671/orders", "amqp://peer/news"),
            browse=("amqps://broker.example:5671//amq/queue/audit",),
            selectors=(("amqps://broker.example:5671/orders", "region = 'eu'"),),
            compose_address="amqps://broker.example:5671/replies",
            routes=(
                ("amqp://orders/*", "amqps://broker.example:5671/$1"),
                ("*", "amqp://relay/$1"),
            ),
            rewrites=(("amqp://%@broker.example/*", "amqp://broker.example/$1"),),
            timeout=7.5,
            incoming_window=0,
            outgoing_window=50,
            max_messages=2000,
            theme="msgr-light",
            user="ops",
            password_env="PROD_AMQP_PASSWORD",
            retry=False,
            tls=TLSProfile(
                certificate="~/certs/client.pem",
                private_key="certs/client-key.pem",
                key_password_env="PROD_KEY_PASSWORD",
                trusted_certificates="/etc/ssl/ca.pem",
                verify_hostname=False,
                allow_insecure_plain=True,
            ),
        ),
        Profile(
            "stored",
            user="robot",
            store_password_in_file=True,
            password=Secret("in-the-file"),
            tls=TLSProfile(
                certificate="client.pem",
                private_key="client-key.pem",
                store_key_password_in_file=True,
                key_password=Secret("key-in-the-file"),
            ),
        ),
    ),
    default_profile="prod",
    keymap=(("incoming.accept", "y"), ("app.send", "ctrl+enter,ctrl+s")),
)

# What msgr-tui writes for EXPECTED: the documented layout, byte for byte.
WRITTEN = """\
# msgr-tui connection profiles (see the README, section Profiles).
# Saved by msgr-tui: comments are not kept; the previous version is config.toml.bak.

default_profile = "prod"

[keymap]
"incoming.accept" = "y"
"app.send" = "ctrl+enter,ctrl+s"

[profiles.local]
listen = [
    "amqp://~127.0.0.1:0",
]

[profiles.prod]
messenger_name = "ops-console"
listen = [
    "amqps://~0.0.0.0:5671",
    "amqp://~127.0.0.1:5672",
]
subscribe = [
    "amqps://broker.example:5671/orders",
    "amqp://peer/news",
]
browse = [
    "amqps://broker.example:5671//amq/queue/audit",
]
selectors = [
    [
        "amqps://broker.example:5671/orders",
        "region = 'eu'",
    ],
]
compose_address = "amqps://broker.example:5671/replies"
routes = [
    [
        "amqp://orders/*",
        "amqps://broker.example:5671/$1",
    ],
    [
        "*",
        "amqp://relay/$1",
    ],
]
rewrites = [
    [
        "amqp://%@broker.example/*",
        "amqp://broker.example/$1",
    ],
]
timeout = 7.5
incoming_window = 0
outgoing_window = 50
max_messages = 2000
theme = "msgr-light"
user = "ops"
password_env = "PROD_AMQP_PASSWORD"
retry = false

[profiles.prod.tls]
certificate = "~/certs/client.pem"
private_key = "certs/client-key.pem"
key_password_env = "PROD_KEY_PASSWORD"
trusted_certificates = "/etc/ssl/ca.pem"
verify_hostname = false
allow_insecure_plain = true

[profiles.stored]
user = "robot"
store_password_in_file = true
password = "in-the-file"

[profiles.stored.tls]
certificate = "client.pem"
private_key = "client-key.pem"
store_key_password_in_file = true
key_password = "key-in-the-file"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    return caught.value


# --------------------------------------------------------------- round trip


def test_full_uses_every_key_of_the_file_format() -> None:
    # So that the tests below cover a key as soon as the format has it.
    for key in (*TOP_LEVEL_KEYS, *PROFILE_KEYS, *TLS_KEYS):
        if key in ("profiles", "tls"):
            continue  # tables, not keys with values
        assert re.search(rf'^"?{re.escape(key)}"? = ', FULL, re.MULTILINE) or f"[{key}]" in FULL, (
            key
        )


def test_every_key_is_read_into_the_model(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", FULL)
    path.chmod(0o600)  # it stores passwords: anything looser is warned about
    loaded = read_config(path)
    assert loaded.config == EXPECTED
    assert loaded.warnings == ()


def test_what_is_written_is_the_documented_text_and_reads_back_identical(tmp_path: Path) -> None:
    out = tmp_path / "config.toml"
    write_config(out, EXPECTED)
    assert out.read_text() == WRITTEN
    assert read_config(out).config == EXPECTED
    # A hand-written file, read and saved, comes out in the same layout.
    write(out, FULL)
    loaded = read_config(out)
    write_config(out, loaded.config, unchanged_since=loaded)
    assert out.read_text() == WRITTEN


def test_a_stored_password_round_trips_when_the_profile_opts_in(tmp_path: Path) -> None:
    profile = Profile(
        "opted",
        user="u",
        store_password_in_file=True,
        password=Secret("hunter2"),
        tls=TLSProfile(
            certificate="c.pem",
            private_key="k.pem",
            store_key_password_in_file=True,
            key_password=Secret("keypw"),
        ),
    )
    path = tmp_path / "config.toml"
    write_config(path, Config((profile,)))
    assert path.read_text().split("\n\n", 1)[1] == (
        "[profiles.opted]\n"
        'user = "u"\n'
        "store_password_in_file = true\n"
        'password = "hunter2"\n'
        "\n"
        "[profiles.opted.tls]\n"
        'certificate = "c.pem"\n'
        'private_key = "k.pem"\n'
        "store_key_password_in_file = true\n"
        'key_password = "keypw"\n'
    )
    assert read_config(path).config.get("opted") == profile


# ----------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('colour = "red"\n', ":1: colour: unknown key"),
        ("[profiles.a]\nusr = 'x'\n", ":2: profiles.a.usr: unknown key (did you mean user?)"),
        (
            "[profiles.a]\nuser = 'x'\n\n[profiles.a.tls]\nverfy_hostname = true\n",
            ":5: profiles.a.tls.verfy_hostname: unknown key (did you mean verify_hostname?)",
        ),
    ],
)
def test_unknown_keys_name_the_file_the_line_and_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    error = error_of(tmp_path, text)
    assert f"{tmp_path / 'config.toml'}{expected}" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("[profiles.a]\ntimeout = '10s'\n", 2, "profiles.a.timeout", "number of seconds"),
        ("[profiles.a]\nlisten = 'amqp://~h'\n", 2, "profiles.a.listen", "array"),
        ("[profiles.a]\nincoming_window = 2.5\n", 2, "profiles.a.incoming_window", "whole"),
        ("[profiles.a]\nmax_messages = 0\n", 2, "profiles.a.max_messages", "at least 1"),
        ("[profiles.a]\nretry = 'yes'\n", 2, "profiles.a.retry", "true or false"),
        ("[profiles.a]\nroutes = [['only-one']]\n", 2, "profiles.a.routes", "pair"),
        ("[profiles.a]\nrewrites = [['*', 'amqp://h/$2']]\n", 2, "profiles.a.rewrites", "$2"),
        ("[profiles.a]\nlisten = ['amqp://h:1']\n", 2, "profiles.a.listen", "~ before the host"),
        ("[profiles.a]\nsubscribe = ['amqp://~h']\n", 2, "profiles.a.subscribe", "listen"),
        ("[profiles.a]\nuser = 'u'\npassword_env = 'A-B'\n", 3, "profiles.a.password_env", "name"),
        (
            "[profiles.a]\nx = 1\n[profiles.a.tls]\nverify_hostname = 1\n",
            4,
            "profiles.a.tls.verify_hostname",
            "true or false",
        ),
        ("default_profile = 'ghost'\n[profiles.a]\n", 1, "default_profile", "not a profile"),
        ("profiles = 3\n", 1, "profiles", "table"),
    ],
)
def test_wrong_types_and_values_are_explained(
    tmp_path: Path, text: str, line: int, key: str, words: str
) -> None:
    error = error_of(tmp_path, text)
    matching = [issue for issue in error.issues if issue.key == key]
    assert matching, str(error)
    assert matching[0].line == line
    assert words in matching[0].message
    assert f"config.toml:{line}: {key}: " in str(error)


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[profiles.a]\ntimeout = 'x'\n[profiles.b]\nretry = 2\n")
    assert [issue.key for issue in error.issues] == ["profiles.a.timeout", "profiles.b.retry"]


def test_toml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[profiles.a]\nuser = 'x'\ntimeout = = 3\n")
    assert error.issues[0].line == 3
    assert "not valid TOML" in str(error) and "config.toml:3:" in str(error)


def test_a_file_that_is_not_utf8_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[profiles.a]\nuser = '\xff'\n")
    with pytest.raises(ConfigError, match=r"config.toml:2: not UTF-8"):
        read_config(path)


def test_a_plaintext_password_needs_the_explicit_opt_in(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[profiles.a]\nuser = 'u'\npassword = 'hunter2'\n")
    assert error.issues[0].key == "profiles.a.password"
    assert "store_password_in_file = true" in error.issues[0].message
    assert "hunter2" not in str(error)


def test_a_password_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    text = "[profiles.a]\nuser = 'u'\nstore_password_in_file = true\npassword = 123456\n"
    error = error_of(tmp_path, text)
    assert "profiles.a.password" in str(error) and "123456" not in str(error)


def test_certificate_without_key_names_the_missing_field(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[profiles.a.tls]\ncertificate = 'c.pem'\n")
    assert [issue.key for issue in error.issues] == ["profiles.a.tls.private_key"]


def test_a_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    loaded = read_config(tmp_path / "nowhere" / "config.toml")
    assert loaded.config == Config() and not loaded.exists


# ----------------------------------------------------------------- writing

BROKEN_FILES = {
    "syntax": "[profiles.a\nuser = 'x'\n",
    "unknown key": "[profiles.a]\nuser = 'x'\nfavourite_colour = 'red'\n",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_a_broken_file_is_never_overwritten_and_not_rotated(tmp_path: Path, kind: str) -> None:
    path = write(tmp_path / "config.toml", BROKEN_FILES[kind])
    before = path.read_bytes()
    with pytest.raises(ConfigRefused) as caught:
        write_config(path, Config((Profile("new"),)))
    assert "not overwritten" in str(caught.value)
    assert path.read_bytes() == before
    assert not (tmp_path / "config.toml.bak").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temp files left


def test_written_files_are_0600_and_the_previous_version_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", FULL)
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_config(path, Config((Profile("only"),)))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    backup = tmp_path / "config.toml.bak"
    assert backup.read_text() == FULL
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert read_config(path).config.names == ["only"]


def test_writing_creates_the_directory_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    write_config(path, Config((Profile("a"),)))
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not (path.parent / "config.toml.bak").exists()


def test_secrets_are_not_written_without_the_opt_in(tmp_path: Path) -> None:
    profile = Profile(
        "a",
        user="u",
        password=Secret("hunter2"),
        tls=TLSProfile(certificate="c", private_key="k", key_password=Secret("keypw")),
    )
    path = tmp_path / "config.toml"
    write_config(path, Config((profile,)))
    data = path.read_bytes()
    assert b"hunter2" not in data and b"keypw" not in data and b"password" not in data


def test_a_symlinked_config_is_written_through_the_link(tmp_path: Path) -> None:
    real = write(tmp_path / "dotfiles.toml", "[profiles.a]\n")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    write_config(link, Config((Profile("b"),)))
    assert link.is_symlink()
    assert read_config(real).config.names == ["b"]


def test_saving_over_a_file_changed_elsewhere_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[profiles.a]\n")
    session = ProfileSession(path)
    session.load()
    path.write_text("[profiles.a]\n[profiles.edited_by_hand]\n")
    with pytest.raises(ConfigChanged):
        session.save(session.config.with_profile(Profile("c")))
    assert "edited_by_hand" in path.read_text()


# ----------------------------------------------------- secrets and settings


def test_env_var_secrets_are_resolved_into_settings(certs: CertificateSet) -> None:
    profile = Profile(
        "p",
        user="ops",
        password_env="AMQP_PW",
        tls=TLSProfile(
            certificate=certs.client_cert,
            private_key=certs.client_key_encrypted,
            key_password_env="KEY_PW",
        ),
    )
    env = {"AMQP_PW": "from-env", "KEY_PW": certs.key_password}
    assert secret_requests(profile, env) == []
    settings = resolve(profile, env=env)
    assert settings.password == "from-env"
    assert settings.tls.key_password == certs.key_password
    assert "from-env" not in repr(settings) and certs.key_password not in repr(settings)


def test_missing_secrets_are_asked_for_through_the_hook(certs: CertificateSet) -> None:
    profile = Profile(
        "p",
        user="ops",
        password_env="AMQP_PW",
        tls=TLSProfile(certificate=certs.client_cert, private_key=certs.client_key_encrypted),
    )
    asked: list[SecretRequest] = []

    def ask(request: SecretRequest) -> Secret:
        asked.append(request)
        return Secret("typed-" + request.key)

    settings = resolve(profile, env={}, ask=ask)
    assert [request.key for request in asked] == [PASSWORD, KEY_PASSWORD]
    assert "$AMQP_PW is not set" in asked[0].prompt
    assert settings.password == "typed-password"
    assert settings.tls.key_password == "typed-tls.key_password"


def test_an_unencrypted_key_needs_no_password(certs: CertificateSet) -> None:
    profile = Profile(
        "p", tls=TLSProfile(certificate=certs.client_cert, private_key=certs.client_key)
    )
    assert secret_requests(profile, {}) == []


def test_defaults_apply_to_keys_the_profile_does_not_set() -> None:
    settings = resolve(Profile("bare"), env={})
    defaults = Settings()
    assert settings.listen == (DEFAULT_LISTEN,) and settings.listen_fallback is True
    assert settings.timeout == defaults.timeout
    assert settings.max_messages == defaults.max_messages
    assert resolve(Profile("x", listen=(), timeout=-1), env={}).timeout is None


def test_relative_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    profile = Profile("p", tls=TLSProfile(trusted_certificates="certs/ca.pem"))
    settings = resolve(profile, env={}, base_dir=tmp_path)
    assert settings.tls.trusted_certificates == str(tmp_path / "certs" / "ca.pem")
    home = resolve(Profile("p", tls=TLSProfile(trusted_certificates="~/ca.pem")), env={})
    assert home.tls.trusted_certificates == str(Path.home() / "ca.pem")


def test_secrets_never_show_in_repr_or_format() -> None:
    secret = Secret("hunter2")
    profile = Profile("p", user="u", store_password_in_file=True, password=secret)
    for text in (repr(secret), str(secret), f"{secret}", repr(profile), str(Config((profile,)))):
        assert "hunter2" not in text
    assert MASK in repr(profile)
    assert secret == Secret("hunter2") and secret != Secret("other")


def test_session_keeps_typed_secrets_in_memory_and_forgets_them_on_edit(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[profiles.a]\nuser = 'u'\n")
    session = ProfileSession(path, env={})
    session.load()
    assert [r.key for r in session.requests("a")] == [PASSWORD]
    assert session.settings("a", {PASSWORD: Secret("typed")}).password == "typed"
    assert session.requests("a") == []
    session.save(session.config.with_profile(Profile("a", user="someone-else")))
    assert [r.key for r in session.requests("a")] == [PASSWORD]
    assert b"typed" not in path.read_bytes()


def test_a_session_on_a_broken_file_runs_on_defaults_and_is_read_only(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[profiles.a\n")
    session = ProfileSession(path)
    session.load()
    assert session.error is not None and not session.writable
    assert session.config == Config()
    assert session.default_settings() == Settings(listen_fallback=True)


def test_resolve_profile_by_name_for_headless_commands(tmp_path: Path) -> None:
    from msgr_tui.profiles import ProfileNotFound, settings_for

    path = write(tmp_path / "config.toml", "[profiles.a]\nuser = 'u'\npassword_env = 'PW'\n")
    settings = settings_for("a", str(path), env={"PW": "env-pw"})
    assert settings.profile == "a" and settings.password == "env-pw"
    with pytest.raises(ProfileNotFound, match=r"no profile 'b' in .* \(profiles: a\)"):
        settings_for("b", str(path))
    write(path, "[profiles.a]\ntimeout = 'x'\n")
    with pytest.raises(ValueError, match=r"profiles\.a\.timeout"):
        settings_for("a", str(path))


def test_keymap_round_trips_and_bad_entries_are_named(tmp_path: Path) -> None:
    from msgr_tui.profiles.errors import ConfigError
    from msgr_tui.profiles.store import read_config, write_config

    path = tmp_path / "config.toml"
    path.write_text('[keymap]\n"incoming.accept" = "y"\n"app.send" = "ctrl+enter,ctrl+s"\n')
    loaded = read_config(path)
    assert dict(loaded.config.keymap) == {"incoming.accept": "y", "app.send": "ctrl+enter,ctrl+s"}
    write_config(path, loaded.config, unchanged_since=loaded)
    assert dict(read_config(path).config.keymap) == dict(loaded.config.keymap)

    path.write_text('[keymap]\n"accept" = "y"\n"incoming.reject" = 5\n')
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    text = str(caught.value)
    assert "keymap.accept" in text and "binding id" in text
    assert "keymap.incoming.reject" in text and "expected keys as a string" in text

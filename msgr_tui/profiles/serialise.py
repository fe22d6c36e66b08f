"""Turn :class:`Config` back into TOML (with tomli-w); secrets only when opted in."""

from __future__ import annotations

from typing import Any

import tomli_w

from .model import Config, Profile, TLSProfile

_TLS_DEFAULTS = TLSProfile()


def tls_table(tls: TLSProfile) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for key in ("certificate", "private_key", "key_password_env"):
        value = getattr(tls, key)
        if value is not None:
            table[key] = value
    if tls.store_key_password_in_file:
        table["store_key_password_in_file"] = True
        if tls.key_password is not None:
            table["key_password"] = tls.key_password.reveal()
    if tls.trusted_certificates is not None:
        table["trusted_certificates"] = tls.trusted_certificates
    for key in ("verify_hostname", "allow_insecure_plain"):
        if getattr(tls, key) != getattr(_TLS_DEFAULTS, key):
            table[key] = getattr(tls, key)
    return table


def profile_table(profile: Profile) -> dict[str, Any]:
    """The ``[profiles.NAME]`` table: keys that are set, in the documented order."""
    table: dict[str, Any] = {}
    for key in ("messenger_name",):
        if profile.messenger_name is not None:
            table[key] = profile.messenger_name
    if profile.listen is not None:
        table["listen"] = list(profile.listen)
    if profile.subscribe:
        table["subscribe"] = list(profile.subscribe)
    if profile.browse:
        table["browse"] = list(profile.browse)
    if profile.selectors:
        table["selectors"] = [list(pair) for pair in profile.selectors]
    if profile.compose_address is not None:
        table["compose_address"] = profile.compose_address
    for key in ("routes", "rewrites"):
        rules = getattr(profile, key)
        if rules:
            table[key] = [list(rule) for rule in rules]
    for key in (
        "timeout",
        "incoming_window",
        "outgoing_window",
        "max_messages",
        "theme",
        "user",
        "password_env",
    ):
        value = getattr(profile, key)
        if value is not None:
            table[key] = value
    if profile.store_password_in_file:
        table["store_password_in_file"] = True
        if profile.password is not None:
            table["password"] = profile.password.reveal()
    if not profile.retry:
        table["retry"] = False
    tls = tls_table(profile.tls)
    if tls or profile.tls != _TLS_DEFAULTS:
        table["tls"] = tls
    return table


def config_document(config: Config) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if config.default_profile is not None:
        document["default_profile"] = config.default_profile
    if config.keymap:
        document["keymap"] = dict(config.keymap)
    document["profiles"] = {profile.name: profile_table(profile) for profile in config.profiles}
    return document


HEADER = (
    "# msgr-tui connection profiles (see the README, section Profiles).\n"
    "# Saved by msgr-tui: comments are not kept; the previous version is config.toml.bak.\n\n"
)


def dumps(config: Config) -> str:
    return HEADER + tomli_w.dumps(config_document(config))

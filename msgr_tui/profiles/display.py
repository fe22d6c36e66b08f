"""Profiles shown to people (the ``profiles`` command, the profile screen): secrets masked."""

from __future__ import annotations

import os
from collections.abc import Mapping

import tomli_w

from ..secret import MASK
from .model import Config, Profile
from .serialise import profile_table


def password_source(profile: Profile, env: Mapping[str, str] | None = None) -> str:
    """Where the password comes from, without ever showing it."""
    env = os.environ if env is None else env
    if profile.user is None:
        return "none (no user)"
    if profile.password is not None:
        return f"{MASK} (stored in the config file)"
    if profile.password_env:
        state = "set" if profile.password_env in env else "not set: asked when connecting"
        return f"${profile.password_env} ({state})"
    return "asked when connecting (kept in memory only)"


def key_password_source(profile: Profile, env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    tls = profile.tls
    if tls.private_key is None:
        return None
    if tls.key_password is not None:
        return f"{MASK} (stored in the config file)"
    if tls.key_password_env:
        state = "set" if tls.key_password_env in env else "not set: asked when connecting"
        return f"${tls.key_password_env} ({state})"
    return "none, or asked when connecting if the key is encrypted"


def masked_table(profile: Profile) -> dict[str, object]:
    """The profile's table as in the file, with stored secrets replaced by the mask."""
    table = profile_table(profile)
    if "password" in table:
        table["password"] = MASK
    tls = table.get("tls")
    if isinstance(tls, dict) and "key_password" in tls:
        tls["key_password"] = MASK
    return table


def masked_toml(profile: Profile) -> str:
    return tomli_w.dumps({"profiles": {profile.name: masked_table(profile)}})


def summary(profile: Profile) -> str:
    """One line for lists: where it listens, what it subscribes to, who it is."""
    parts = []
    if profile.listen is None:
        parts.append("listen: default")
    elif profile.listen:
        parts.append("listen: " + ", ".join(profile.listen))
    if profile.subscribe:
        parts.append("subscribe: " + ", ".join(profile.subscribe))
    if profile.user:
        parts.append(f"user: {profile.user}")
    if profile.tls.certificate or profile.tls.trusted_certificates:
        parts.append("tls")
    return "; ".join(parts)


def list_lines(config: Config) -> list[str]:
    width = max((len(name) for name in config.names), default=0)
    lines = []
    for profile in config.profiles:
        marker = "*" if profile.name == config.default_profile else " "
        lines.append(f"{marker} {profile.name:<{width}}  {summary(profile)}".rstrip())
    return lines

"""Saved connection profiles: the TOML config file, checked, saved safely, resolved.

No UI toolkit here (a test checks): the CLI, the app and scripts share it.
"""

from __future__ import annotations

from .display import list_lines, masked_toml, password_source
from .errors import ConfigChanged, ConfigError, ConfigIssue, ConfigRefused
from .model import Config, Profile, TLSProfile
from .named import ProfileNotFound, settings_for
from .parse import parse_profile, parse_text
from .resolve import KEY_PASSWORD, PASSWORD, SecretRequest, resolve, secret_requests
from .serialise import dumps, profile_table
from .session import ProfileSession
from .store import LoadedConfig, read_config, write_config

__all__ = [
    "KEY_PASSWORD",
    "PASSWORD",
    "Config",
    "ConfigChanged",
    "ConfigError",
    "ConfigIssue",
    "ConfigRefused",
    "LoadedConfig",
    "Profile",
    "ProfileNotFound",
    "ProfileSession",
    "SecretRequest",
    "TLSProfile",
    "dumps",
    "list_lines",
    "masked_toml",
    "parse_profile",
    "parse_text",
    "password_source",
    "profile_table",
    "read_config",
    "resolve",
    "secret_requests",
    "settings_for",
    "write_config",
]

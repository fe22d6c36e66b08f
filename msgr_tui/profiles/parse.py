"""Turn parsed TOML into :class:`Config`, checking every key; problems name the key.

Strict on purpose: an unknown key is an error (a typo such as ``verfy_hostname``
would otherwise silently leave host-name checks on their default).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..messenger.address import AddressError, parse_address
from ..messenger.errors import MessengerException
from ..messenger.rules import Rule as CompiledRule
from ..messenger.rules import rule_problem
from ..secret import Secret
from .errors import ConfigError, ConfigIssue
from .lines import locate
from .model import PROFILE_KEYS, TLS_KEYS, TOP_LEVEL_KEYS, Config, Profile, Rule, TLSProfile

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Invalid(Exception):
    """A value is wrong; the message says what was expected."""


def describe(value: object, *, show: bool = True) -> str:
    """A TOML-flavoured description of a value: 'a string ("10s")', 'an array'..."""
    if isinstance(value, bool):
        kind = "a boolean"
    elif isinstance(value, int):
        kind = "an integer"
    elif isinstance(value, float):
        kind = "a float"
    elif isinstance(value, str):
        kind = "a string"
    elif isinstance(value, list):
        return "an array"
    elif isinstance(value, dict):
        return "a table"
    elif isinstance(value, (dt.date, dt.time)):
        kind = "a date/time"
    else:
        kind = type(value).__name__
    return f"{kind} ({value!r})" if show else kind


# ------------------------------------------------------------------ checkers


def text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {describe(value)}")
    if not value.strip():
        raise Invalid("must not be empty")
    return value


def secret(value: object) -> Secret:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {describe(value, show=False)}")
    return Secret(value)


def env_name(value: object) -> str:
    name = text(value)
    if not ENV_NAME.match(name):
        raise Invalid(
            f"{name!r} is not an environment variable name "
            "(letters, digits and _, not starting with a digit)"
        )
    return name


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {describe(value)}")
    return value


def count(minimum: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected a whole number, got {describe(value)}")
        if value < minimum:
            raise Invalid(f"must be at least {minimum}, got {value}")
        return value

    return check


def seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"expected a number of seconds, got {describe(value)}")
    if value == 0 or value != value:  # NaN
        raise Invalid("must be more than 0 seconds (or negative to wait forever)")
    return float(value)


def address(value: object, *, listen: bool | None = None) -> str:
    written = text(value)
    try:
        parsed = parse_address(written)
    except AddressError as error:
        raise Invalid(str(error)) from None
    if listen is True and not parsed.listen:
        raise Invalid(f"{written!r} is not a listen address: write ~ before the host")
    if listen is False and parsed.listen:
        raise Invalid(f"{written!r} is a listen address (~): put it in listen instead")
    return written


def addresses(*, listen: bool) -> Callable[[object], tuple[str, ...]]:
    def check(value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Invalid(f"expected an array of addresses, got {describe(value)}")
        result = []
        for index, item in enumerate(value):
            try:
                result.append(address(item, listen=listen))
            except Invalid as error:
                raise Invalid(f"item {index + 1}: {error}") from None
        return tuple(result)

    return check


def rules(value: object) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise Invalid(f"expected an array of [pattern, address] pairs, got {describe(value)}")
    result = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str) and part for part in item)
        ):
            raise Invalid(
                f"item {index + 1}: expected a [pattern, address] pair of strings, "
                f"got {describe(item)}"
            )
        try:
            # The Messenger's own compiler: a rule it would refuse at start is a config error.
            CompiledRule.compile(item[0], item[1])
        except MessengerException as error:
            raise Invalid(f"item {index + 1}: {error}") from None
        # And one it would take but that is surely a slip ($3 of two wildcards).
        problem = rule_problem(item[0], item[1])
        if problem is not None:
            raise Invalid(f"item {index + 1}: {problem}")
        result.append((item[0], item[1]))
    return tuple(result)


def selectors(value: object) -> tuple[Rule, ...]:
    """``[[source, selector], ...]``: a JMS-style selector for each source named."""
    if not isinstance(value, list):
        raise Invalid(f"expected an array of [source, selector] pairs, got {describe(value)}")
    result = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str) and part.strip() for part in item)
        ):
            raise Invalid(
                f"item {index + 1}: expected a [source, selector] pair of strings, "
                f"got {describe(item)}"
            )
        try:
            source = address(item[0], listen=False)
        except Invalid as error:
            raise Invalid(f"item {index + 1}: {error}") from None
        result.append((source, item[1]))
    return tuple(result)


PROFILE_CHECKERS: dict[str, Callable[[object], Any]] = {
    "messenger_name": text,
    "listen": addresses(listen=True),
    "subscribe": addresses(listen=False),
    "browse": addresses(listen=False),
    "selectors": selectors,
    "compose_address": lambda value: address(value, listen=False),
    "routes": rules,
    "rewrites": rules,
    "timeout": seconds,
    "incoming_window": count(0),
    "outgoing_window": count(0),
    "max_messages": count(1),
    "theme": text,
    "user": text,
    "password_env": env_name,
    "store_password_in_file": flag,
    "password": secret,
    "retry": flag,
}
TLS_CHECKERS: dict[str, Callable[[object], Any]] = {
    "certificate": text,
    "private_key": text,
    "key_password_env": env_name,
    "store_key_password_in_file": flag,
    "key_password": secret,
    "trusted_certificates": text,
    "verify_hostname": flag,
    "allow_insecure_plain": flag,
}
assert set(PROFILE_CHECKERS) | {"tls"} == set(PROFILE_KEYS)
assert set(TLS_CHECKERS) == set(TLS_KEYS)


# ------------------------------------------------------------------- tables


def _unknown(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "known keys: " + ", ".join(known)
    return f"unknown key ({hint})"


def _check_table(
    table: dict[str, Any],
    checkers: dict[str, Callable[[object], Any]],
    known: tuple[str, ...],
    prefix: str,
    issues: list[ConfigIssue],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in checkers:
            if key not in known:
                issues.append(ConfigIssue(f"{prefix}.{key}", _unknown(key, known)))
            continue
        try:
            values[key] = checkers[key](value)
        except Invalid as error:
            issues.append(ConfigIssue(f"{prefix}.{key}", str(error)))
    return values


def _check_secret_rules(
    values: dict[str, Any],
    prefix: str,
    secret_key: str,
    env_key: str,
    opt_in_key: str,
    issues: list[ConfigIssue],
) -> None:
    if secret_key not in values:
        return
    if not values.get(opt_in_key, False):
        issues.append(
            ConfigIssue(
                f"{prefix}.{secret_key}",
                f"a plaintext {secret_key} is only allowed with {opt_in_key} = true "
                f"in the same table; prefer {env_key} (the variable that holds it)",
            )
        )
    if env_key in values:
        issues.append(
            ConfigIssue(f"{prefix}.{env_key}", f"set {env_key} or {secret_key}, not both")
        )


def parse_tls(table: object, prefix: str, issues: list[ConfigIssue]) -> TLSProfile:
    if not isinstance(table, dict):
        issues.append(ConfigIssue(prefix, f"expected a table, got {describe(table)}"))
        return TLSProfile()
    before = len(issues)
    values = _check_table(table, TLS_CHECKERS, TLS_KEYS, prefix, issues)
    _check_secret_rules(
        values, prefix, "key_password", "key_password_env", "store_key_password_in_file", issues
    )
    has_cert, has_key = "certificate" in values, "private_key" in values
    if has_cert != has_key:
        missing = "private_key" if has_cert else "certificate"
        present = "certificate" if has_cert else "private_key"
        issues.append(
            ConfigIssue(f"{prefix}.{missing}", f"{present} is set, so {missing} is needed")
        )
    if not has_key and ("key_password" in values or "key_password_env" in values):
        issues.append(
            ConfigIssue(f"{prefix}.private_key", "a key password is set but private_key is not")
        )
    if len(issues) > before:
        return TLSProfile()
    return TLSProfile(**values)


def parse_profile(name: str, table: object, issues: list[ConfigIssue]) -> Profile | None:
    """Check one ``[profiles.NAME]`` table; add its problems to ``issues``."""
    prefix = f"profiles.{name}"
    before = len(issues)
    if not PROFILE_NAME.match(name):
        issues.append(
            ConfigIssue(
                prefix,
                f"profile name {name!r} must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit",
            )
        )
    if not isinstance(table, dict):
        issues.append(ConfigIssue(prefix, f"expected a table, got {describe(table)}"))
        return None
    values = _check_table(table, PROFILE_CHECKERS, PROFILE_KEYS, prefix, issues)
    _check_secret_rules(
        values, prefix, "password", "password_env", "store_password_in_file", issues
    )
    if "user" not in values and ("password" in values or "password_env" in values):
        issues.append(
            ConfigIssue(f"{prefix}.user", "a password is set but user is not (it is never sent)")
        )
    tls = parse_tls(table["tls"], f"{prefix}.tls", issues) if "tls" in table else TLSProfile()
    if len(issues) > before:
        return None
    return Profile(name=name, tls=tls, **values)


def parse_document(document: dict[str, Any]) -> tuple[Config, list[ConfigIssue]]:
    """Check a whole parsed file; the issues carry no line numbers yet."""
    issues: list[ConfigIssue] = []
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            issues.append(ConfigIssue(key, _unknown(key, TOP_LEVEL_KEYS)))
    raw_profiles = document.get("profiles", {})
    profiles: list[Profile] = []
    if not isinstance(raw_profiles, dict):
        issues.append(ConfigIssue("profiles", f"expected a table, got {describe(raw_profiles)}"))
        raw_profiles = {}
    for name, table in raw_profiles.items():
        profile = parse_profile(name, table, issues)
        if profile is not None:
            profiles.append(profile)
    default = document.get("default_profile")
    if default is not None:
        if not isinstance(default, str):
            issues.append(
                ConfigIssue("default_profile", f"expected a string, got {describe(default)}")
            )
            default = None
        elif default not in raw_profiles:
            known = ", ".join(raw_profiles) or "none"
            issues.append(
                ConfigIssue(
                    "default_profile",
                    f"{default!r} is not a profile in this file (profiles: {known})",
                )
            )
    keymap = parse_keymap(document.get("keymap", {}), issues)
    return Config(tuple(profiles), default, keymap), issues


_BINDING_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def parse_keymap(table: Any, issues: list[ConfigIssue]) -> tuple[tuple[str, str], ...]:
    """``[keymap]``: binding id = keys, e.g. ``"incoming.accept" = "y,enter"``."""
    if not isinstance(table, dict):
        issues.append(ConfigIssue("keymap", f"expected a table, got {describe(table)}"))
        return ()
    keymap = []
    for binding_id, keys in table.items():
        where = f"keymap.{binding_id}"
        if not _BINDING_ID.match(binding_id):
            issues.append(
                ConfigIssue(where, "expected a binding id like incoming.accept (see the help, F1)")
            )
        elif not isinstance(keys, str) or not keys.strip():
            issues.append(ConfigIssue(where, f"expected keys as a string, got {describe(keys)}"))
        else:
            keymap.append((binding_id, keys.strip()))
    return tuple(keymap)


def _key_path(key: str, document_text: str) -> tuple[str, ...]:
    # Profile names never contain dots that matter here except inside quotes; the
    # issue keys were built as "profiles.NAME.rest", so split NAME out explicitly.
    parts = key.split(".")
    if parts[0] == "profiles" and len(parts) > 1:
        rest = key[len("profiles.") :]
        for candidate in _names_in(document_text):
            if rest == candidate or rest.startswith(candidate + "."):
                tail = rest[len(candidate) + 1 :]
                return ("profiles", candidate, *(tail.split(".") if tail else ()))
    return tuple(parts)


def _names_in(document_text: str) -> list[str]:
    try:
        profiles = tomllib.loads(document_text).get("profiles", {})
    except tomllib.TOMLDecodeError:
        return []
    names = list(profiles) if isinstance(profiles, dict) else []
    return sorted(names, key=len, reverse=True)  # longest first: "a.b" before "a"


def parse_text(document_text: str, path: Path | None = None) -> Config:
    """Parse and check a config file's text; raises :class:`ConfigError` with lines."""
    try:
        document = tomllib.loads(document_text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, [syntax_issue(error)]) from None
    config, issues = parse_document(document)
    if issues:
        located = [
            ConfigIssue(i.key, i.message, locate(document_text, _key_path(i.key, document_text)))
            for i in issues
        ]
        raise ConfigError(path, located)
    return config


_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def syntax_issue(error: tomllib.TOMLDecodeError) -> ConfigIssue:
    message = str(error)
    match = _AT_LINE.search(message)
    line = int(match.group(1)) if match else getattr(error, "lineno", None)
    if match:
        message = f"{message[: match.start()]} (column {match.group(2)})"
    return ConfigIssue("", f"not valid TOML: {message}", line)

"""A profile as the fields of an edit form, and back, checked like the file is.

Plain strings and booleans in, a :class:`Profile` or the issues out: the same
checks and messages as the config file, so a form and a file never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..secret import Secret
from .errors import ConfigIssue
from .model import Profile, Rule
from .parse import PROFILE_NAME, parse_profile

# How a secret is provided: an environment variable, a prompt when connecting, or the file.
FROM_ENV = "env"
ASK = "ask"
IN_FILE = "file"
NO_LISTENER = "none"


@dataclass
class ProfileForm:
    """What an edit form holds. Secrets typed here stay ``Secret`` and empty means 'keep'."""

    name: str = ""
    messenger_name: str = ""
    listen: str = ""  # one address a line; empty: the default listener; "none": no listener
    subscribe: str = ""
    compose_address: str = ""
    routes: str = ""  # "pattern address" a line
    rewrites: str = ""
    timeout: str = ""
    incoming_window: str = ""
    outgoing_window: str = ""
    max_messages: str = ""
    theme: str = ""
    user: str = ""
    password_mode: str = ASK
    password_env: str = ""
    password: Secret | None = None
    retry: bool = True
    certificate: str = ""
    private_key: str = ""
    key_password_mode: str = ASK
    key_password_env: str = ""
    key_password: Secret | None = None
    trusted_certificates: str = ""
    verify_hostname: bool = True
    allow_insecure_plain: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _lines(values: tuple[str, ...]) -> str:
    return "\n".join(values)


def _rules_text(rules: tuple[Rule, ...]) -> str:
    return "\n".join(f"{pattern} {address}" for pattern, address in rules)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def form_from_profile(profile: Profile) -> ProfileForm:
    """The form for editing ``profile``; stored secrets are not copied into it."""
    tls = profile.tls
    if profile.listen is None:
        listen = ""
    else:
        listen = _lines(profile.listen) if profile.listen else NO_LISTENER
    return ProfileForm(
        name=profile.name,
        messenger_name=_text(profile.messenger_name),
        listen=listen,
        subscribe=_lines(profile.subscribe),
        compose_address=_text(profile.compose_address),
        routes=_rules_text(profile.routes),
        rewrites=_rules_text(profile.rewrites),
        timeout=_text(profile.timeout),
        incoming_window=_text(profile.incoming_window),
        outgoing_window=_text(profile.outgoing_window),
        max_messages=_text(profile.max_messages),
        theme=_text(profile.theme),
        user=_text(profile.user),
        password_mode=_mode(profile.store_password_in_file, profile.password_env),
        password_env=_text(profile.password_env),
        retry=profile.retry,
        certificate=_text(tls.certificate),
        private_key=_text(tls.private_key),
        key_password_mode=_mode(tls.store_key_password_in_file, tls.key_password_env),
        key_password_env=_text(tls.key_password_env),
        trusted_certificates=_text(tls.trusted_certificates),
        verify_hostname=tls.verify_hostname,
        allow_insecure_plain=tls.allow_insecure_plain,
    )


def _mode(stored: bool, variable: str | None) -> str:
    if stored:
        return IN_FILE
    return FROM_ENV if variable else ASK


def _number(text: str) -> object:
    """A number when the text is one; else the text, so the check says what was expected."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _split_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _rules(text: str) -> list[list[str]]:
    return [line.split(None, 1) for line in _split_lines(text)]


def _table(form: ProfileForm, previous: Profile | None) -> dict[str, Any]:
    table: dict[str, Any] = {}

    def put(key: str, value: object) -> None:
        if value not in ("", None, []):
            table[key] = value

    put("messenger_name", form.messenger_name.strip())
    listen = form.listen.strip()
    if listen.lower() == NO_LISTENER:
        table["listen"] = []
    else:
        put("listen", _split_lines(listen))
    put("subscribe", _split_lines(form.subscribe))
    if previous is not None:
        # Not fields of the form: kept as the file has them (edit them there).
        put("browse", list(previous.browse))
        put("selectors", [list(pair) for pair in previous.selectors])
    put("compose_address", form.compose_address.strip())
    put("routes", _rules(form.routes))
    put("rewrites", _rules(form.rewrites))
    for key in ("timeout", "incoming_window", "outgoing_window", "max_messages"):
        text = getattr(form, key).strip()
        if text:
            table[key] = _number(text)
    put("theme", form.theme.strip())
    put("user", form.user.strip())
    if form.password_mode == FROM_ENV:
        table["password_env"] = form.password_env.strip()
    elif form.password_mode == IN_FILE:
        table["store_password_in_file"] = True
        kept = previous.password if previous is not None else None
        password = form.password or kept
        if password is not None:
            table["password"] = password.reveal()
    if not form.retry:
        table["retry"] = False
    table["tls"] = _tls_table(form, previous)
    return table


def _tls_table(form: ProfileForm, previous: Profile | None) -> dict[str, Any]:
    tls: dict[str, Any] = {}
    for key in ("certificate", "private_key", "trusted_certificates"):
        value = getattr(form, key).strip()
        if value:
            tls[key] = value
    if form.key_password_mode == FROM_ENV:
        tls["key_password_env"] = form.key_password_env.strip()
    elif form.key_password_mode == IN_FILE:
        tls["store_key_password_in_file"] = True
        kept = previous.tls.key_password if previous is not None else None
        key_password = form.key_password or kept
        if key_password is not None:
            tls["key_password"] = key_password.reveal()
    if not form.verify_hostname:
        tls["verify_hostname"] = False
    if form.allow_insecure_plain:
        tls["allow_insecure_plain"] = True
    return tls


def profile_from_form(
    form: ProfileForm, previous: Profile | None, taken: list[str]
) -> tuple[Profile | None, list[ConfigIssue]]:
    """Check the form; ``taken`` are the names other profiles already use."""
    issues: list[ConfigIssue] = []
    name = form.name.strip()
    if not PROFILE_NAME.match(name):
        issues.append(
            ConfigIssue(
                "name", "1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        )
    elif name in taken:
        issues.append(ConfigIssue("name", f"a profile named {name!r} already exists"))
    profile = parse_profile(name or "unnamed", _table(form, previous), issues)
    return (profile if not issues else None), issues

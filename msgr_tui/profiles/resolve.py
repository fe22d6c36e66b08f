"""A profile plus its secrets becomes the :class:`Settings` one session runs with.

Secrets come from the file (only when the profile opted in), from environment
variables, or from whoever calls (the app's prompt, a terminal ``getpass``);
answers are never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..messenger.tls import key_is_encrypted
from ..secret import Secret
from ..settings import DEFAULT_LISTEN, Settings, TLSOptions
from .model import Profile

PASSWORD = "password"
KEY_PASSWORD = "tls.key_password"


@dataclass(frozen=True)
class SecretRequest:
    """A secret the profile needs that no file or variable provides."""

    profile: str
    key: str  # PASSWORD or KEY_PASSWORD
    # The variable the profile names but which is not set, if any.
    env: str | None = None
    user: str | None = None
    private_key: str | None = None

    @property
    def prompt(self) -> str:
        if self.key == PASSWORD:
            what = f"Password for user {self.user!r} of profile {self.profile!r}"
        else:
            what = f"Password of the private key {self.private_key} (profile {self.profile!r})"
        if self.env:
            what += f"; ${self.env} is not set"
        return what


Ask = Callable[[SecretRequest], Secret | None]


def tls_path(value: str | None, base_dir: Path | None) -> str | None:
    """``~`` is the home directory; a relative path is relative to the config file's folder."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path)


def secret_requests(
    profile: Profile, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> list[SecretRequest]:
    """The secrets to ask for before ``profile`` can connect."""
    env = os.environ if env is None else env
    requests = []
    if (
        profile.user is not None
        and profile.password is None
        and not (profile.password_env and profile.password_env in env)
    ):
        requests.append(SecretRequest(profile.name, PASSWORD, profile.password_env, profile.user))
    tls = profile.tls
    key = tls_path(tls.private_key, base_dir)
    if key is not None and tls.key_password is None:
        variable = tls.key_password_env
        if variable and variable not in env:
            requests.append(SecretRequest(profile.name, KEY_PASSWORD, variable, private_key=key))
        elif not variable and key_is_encrypted(key):
            requests.append(SecretRequest(profile.name, KEY_PASSWORD, private_key=key))
    return requests


def _secret(
    stored: Secret | None,
    variable: str | None,
    env: Mapping[str, str],
    given: Secret | None,
) -> str | None:
    if stored is not None:
        return stored.reveal()
    if variable and variable in env:
        return env[variable]
    if given is not None and given:
        return given.reveal()
    return None


def resolve(
    profile: Profile,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    secrets: Mapping[str, Secret] | None = None,
    ask: Ask | None = None,
) -> Settings:
    """The settings for ``profile``; missing secrets come from ``secrets`` or ``ask``.

    ``secrets`` maps :data:`PASSWORD` / :data:`KEY_PASSWORD` to answers already
    given. A secret nobody provides stays unset (the peer will then refuse, and
    say so).
    """
    env = os.environ if env is None else env
    given: dict[str, Secret] = dict(secrets or {})
    for request in secret_requests(profile, env, base_dir):
        if request.key not in given and ask is not None:
            answer = ask(request)
            if answer is not None:
                given[request.key] = answer
    tls = profile.tls
    defaults = Settings()
    return Settings(
        profile=profile.name,
        messenger_name=profile.messenger_name,
        listen=profile.listen if profile.listen is not None else (DEFAULT_LISTEN,),
        listen_fallback=profile.listen is None,
        subscribe=profile.subscribe,
        browse=profile.browse,
        selectors=profile.selectors,
        compose_address=profile.compose_address,
        routes=profile.routes,
        rewrites=profile.rewrites,
        timeout=_timeout(profile.timeout, defaults.timeout),
        incoming_window=_or(profile.incoming_window, defaults.incoming_window),
        outgoing_window=_or(profile.outgoing_window, defaults.outgoing_window),
        max_messages=_or(profile.max_messages, defaults.max_messages),
        theme=profile.theme,
        user=profile.user,
        password=_secret(profile.password, profile.password_env, env, given.get(PASSWORD)),
        retry=profile.retry,
        tls=TLSOptions(
            certificate=tls_path(tls.certificate, base_dir),
            private_key=tls_path(tls.private_key, base_dir),
            key_password=_secret(
                tls.key_password, tls.key_password_env, env, given.get(KEY_PASSWORD)
            ),
            trusted_certificates=tls_path(tls.trusted_certificates, base_dir),
            verify_hostname=tls.verify_hostname,
            allow_insecure_plain=tls.allow_insecure_plain,
        ),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _timeout(value: float | None, default: float | None) -> float | None:
    if value is None:
        return default
    return None if value < 0 else value

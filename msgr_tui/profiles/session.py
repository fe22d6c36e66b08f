"""The profiles of one run of the app: the file, the active profile, secrets in memory.

No UI here: the app's screens call it, and it could drive any other front end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from ..secret import Secret
from ..settings import Settings
from .errors import ConfigError
from .model import Config, Profile
from .named import ProfileNotFound
from .resolve import SecretRequest, resolve, secret_requests
from .store import LoadedConfig, read_config, write_config

Overrides = Callable[[Settings], Settings]


class ProfileSession:
    """What the app knows about profiles; secrets typed at prompts live only here, in memory."""

    def __init__(
        self,
        path: Path,
        *,
        env: Mapping[str, str] | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        self.path = path
        self.env = os.environ if env is None else env
        # Command-line options (--listen, --theme...) apply to the profile the run started with.
        self._overrides = overrides
        self.loaded = LoadedConfig(path)
        self.error: ConfigError | None = None
        self.active: str | None = None
        self._startup: str | None = None
        self._secrets: dict[tuple[str, str], Secret] = {}

    # ------------------------------------------------------------ the file

    def load(self) -> None:
        """Read the file; on error keep running on an empty config and remember why."""
        try:
            self.loaded = read_config(self.path)
            self.error = None
        except ConfigError as error:
            self.loaded = LoadedConfig(self.path)
            self.error = error

    @property
    def config(self) -> Config:
        return self.loaded.config

    @property
    def writable(self) -> bool:
        """False while the file has errors: it must be fixed by hand, never overwritten."""
        return self.error is None

    def save(self, config: Config) -> None:
        """Write ``config``; raises ConfigRefused, ConfigChanged, ConfigError or OSError."""
        old = {p.name: p for p in self.config.profiles}
        self.loaded = write_config(self.path, config, unchanged_since=self.loaded)
        for name, profile in old.items():
            if config.get(name) != profile:
                self.forget_secrets(name)

    # ------------------------------------------------------------ settings

    @property
    def base_dir(self) -> Path:
        return self.path.expanduser().absolute().parent

    def requests(self, name: str) -> list[SecretRequest]:
        """Secrets still to ask for before ``name`` can connect (answers given are kept)."""
        profile = self._profile(name)
        return [
            request
            for request in secret_requests(profile, self.env, self.base_dir)
            if (name, request.key) not in self._secrets
        ]

    def start(self, name: str | None) -> None:
        """The run starts on ``name`` (None: the defaults); command-line options apply to it."""
        if name is not None:
            self._profile(name)
        self._startup = self.active = name

    def activate(self, name: str) -> None:
        """The app switched to ``name``."""
        self._profile(name)
        self.active = name

    def settings(self, name: str, answers: Mapping[str, Secret] | None = None) -> Settings:
        """Resolve ``name`` with these answers, which are remembered (in memory only)."""
        for key, value in (answers or {}).items():
            self.remember(name, key, value)
        known = {key: value for (profile, key), value in self._secrets.items() if profile == name}
        settings = resolve(self._profile(name), env=self.env, base_dir=self.base_dir, secrets=known)
        if name == self._startup and self._overrides is not None:
            settings = self._overrides(settings)
        return settings

    def default_settings(self) -> Settings:
        """The built-in defaults (no profile), with the command-line options."""
        base = Settings(listen_fallback=True)
        return self._overrides(base) if self._overrides is not None else base

    def remember(self, name: str, key: str, value: Secret) -> None:
        self._secrets[(name, key)] = value

    def forget_secrets(self, name: str) -> None:
        for key in [key for key in self._secrets if key[0] == name]:
            del self._secrets[key]

    def _profile(self, name: str) -> Profile:
        profile = self.config.get(name)
        if profile is None:
            known = ", ".join(self.config.names) or "none"
            raise ProfileNotFound(f"no profile {name!r} in {self.path} (profiles: {known})")
        return profile

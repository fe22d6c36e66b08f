"""Connection profiles as data: what the config file says, before secrets are resolved.

``None`` means "not set in the file" (the built-in default applies), so a file
read and written back keeps exactly the keys it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..secret import Secret

# A route or rewrite rule: (pattern, address), applied in file order.
Rule = tuple[str, str]

# The keys of a [profiles.NAME] table and its [profiles.NAME.tls] table, in file order.
PROFILE_KEYS = (
    "messenger_name",
    "listen",
    "subscribe",
    "browse",
    "selectors",
    "compose_address",
    "routes",
    "rewrites",
    "timeout",
    "incoming_window",
    "outgoing_window",
    "max_messages",
    "theme",
    "user",
    "password_env",
    "store_password_in_file",
    "password",
    "retry",
    "tls",
)
TLS_KEYS = (
    "certificate",
    "private_key",
    "key_password_env",
    "store_key_password_in_file",
    "key_password",
    "trusted_certificates",
    "verify_hostname",
    "allow_insecure_plain",
)
TOP_LEVEL_KEYS = ("default_profile", "keymap", "profiles")


@dataclass(frozen=True)
class TLSProfile:
    """The ``[profiles.NAME.tls]`` table. Paths are kept as written (``~``, relative)."""

    certificate: str | None = None
    private_key: str | None = None
    key_password_env: str | None = None
    # Only ever written to the file when store_key_password_in_file is true.
    store_key_password_in_file: bool = False
    key_password: Secret | None = None
    trusted_certificates: str | None = None
    verify_hostname: bool = True
    allow_insecure_plain: bool = False


@dataclass(frozen=True)
class Profile:
    """One ``[profiles.NAME]`` table."""

    name: str
    messenger_name: str | None = None
    # None: the built-in listener (trying the next ports when it is taken); () listens nowhere.
    listen: tuple[str, ...] | None = None
    subscribe: tuple[str, ...] = ()
    # Sources to browse (never consumed), and selectors sent on sources' attach.
    browse: tuple[str, ...] = ()
    selectors: tuple[Rule, ...] = ()
    compose_address: str | None = None
    routes: tuple[Rule, ...] = ()
    rewrites: tuple[Rule, ...] = ()
    # Seconds; negative waits forever.
    timeout: float | None = None
    incoming_window: int | None = None
    outgoing_window: int | None = None
    max_messages: int | None = None
    theme: str | None = None
    user: str | None = None
    password_env: str | None = None
    # Only ever written to the file when store_password_in_file is true.
    store_password_in_file: bool = False
    password: Secret | None = None
    retry: bool = True
    tls: TLSProfile = field(default_factory=TLSProfile)


@dataclass(frozen=True)
class Config:
    """The whole file: profiles in file order and the one used when none is named."""

    profiles: tuple[Profile, ...] = ()
    default_profile: str | None = None
    # Binding id -> keys ("incoming.accept" = "y"): remaps the app's keys.
    keymap: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [profile.name for profile in self.profiles]

    def get(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def with_profile(self, profile: Profile, *, replacing: str | None = None) -> Config:
        """Add ``profile``, or put it in the place of ``replacing`` (an edit or a rename)."""
        old = replacing if replacing is not None else profile.name
        profiles = list(self.profiles)
        index = next((i for i, p in enumerate(profiles) if p.name == old), None)
        if index is None:
            profiles.append(profile)
        else:
            profiles[index] = profile
        default = self.default_profile
        if replacing is not None and default == replacing:
            default = profile.name
        return replace(self, profiles=tuple(profiles), default_profile=default)

    def without_profile(self, name: str) -> Config:
        default = None if self.default_profile == name else self.default_profile
        profiles = tuple(p for p in self.profiles if p.name != name)
        return replace(self, profiles=profiles, default_profile=default)

    def with_default(self, name: str | None) -> Config:
        return replace(self, default_profile=name)

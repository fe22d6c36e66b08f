"""Messenger addresses: ``[amqp[s]://][user[:password]@][~]domain[/name]``.

``domain`` is ``host``, ``host:port``, ``[ipv6]:port`` or a bare name (which
may be the container-id of a connected peer). A ``~`` before the domain means
"listen here" and is only meaningful to ``subscribe``. User and password may be
percent-encoded (``%40`` for ``@``, ``%2F`` for ``/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from .errors import MessengerException

__all__ = ["Address", "AddressError", "add_credentials", "parse_address", "split_scheme"]

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}


class AddressError(MessengerException):
    """An address could not be parsed; the text quotes it and says why."""


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed Messenger address.

    ``scheme`` is ``None`` when the text had none (``amqp`` is then implied);
    ``port`` is ``None`` when the text had none (the scheme's default applies).
    """

    scheme: str | None
    user: str | None
    password: str | None
    host: str
    port: int | None
    name: str | None
    listen: bool = False

    @property
    def effective_scheme(self) -> str:
        return self.scheme or "amqp"

    @property
    def tls(self) -> bool:
        return self.effective_scheme == "amqps"

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.effective_scheme]

    @property
    def domain(self) -> str:
        """``[user@]host[:port]`` as written; compared with peers' container-ids."""
        text = self._host_text()
        if self.port is not None:
            text = f"{text}:{self.port}"
        if self.user is not None:
            text = f"{quote(self.user, safe='')}@{text}"
        return text

    def connection_key(self) -> tuple[str, str | None, str | None, str, int]:
        """What two addresses must share to use the same outgoing connection."""
        return (self.effective_scheme, self.user, self.password, self.host, self.effective_port)

    def _host_text(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def without_credentials(self) -> str:
        """The address as text with ``user:password@`` removed (safe to show or log)."""
        text = ("~" if self.listen else "") + self._host_text()
        if self.port is not None:
            text = f"{text}:{self.port}"
        if self.scheme is not None:
            text = f"{self.scheme}://{text}"
        if self.name is not None:
            text = f"{text}/{self.name}"
        return text

    def safe_text(self) -> str:
        """The address for messages and logs: user kept, password masked."""
        text = self.without_credentials()
        if self.user is None:
            return text
        userinfo = quote(self.user, safe="") + (":***" if self.password is not None else "")
        if self.scheme is not None:
            prefix = f"{self.scheme}://"
            return f"{prefix}{userinfo}@{text[len(prefix) :]}"
        return f"{userinfo}@{text}"


def parse_address(text: str) -> Address:
    """Parse ``text``; raise :class:`AddressError` naming the problem."""
    if not isinstance(text, str):
        raise AddressError(f"address must be a string, not {type(text).__name__}: {text!r}")
    if not text.strip():
        raise AddressError("address is empty")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text):
        # C0, DEL and C1 (0x9b is a one-byte CSI to many terminals).
        raise AddressError(f"address {_shown(text)} contains control characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        # A lone surrogate cannot be encoded into the AMQP message.
        raise AddressError(f"address {_shown(text)} is not valid Unicode text (lone surrogate)")
    if text != text.strip():
        raise AddressError(f"address {_shown(text)} has leading or trailing spaces")

    scheme, rest = split_scheme(text)
    if scheme is not None and scheme not in DEFAULT_PORTS:
        raise AddressError(
            f"address {_shown(text)}: unsupported scheme {scheme!r} (use amqp:// or amqps://)"
        )

    authority, slash, name = rest.partition("/")
    name_part: str | None = name if slash else None

    user: str | None = None
    password: str | None = None
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
        raw_user, colon, raw_password = userinfo.partition(":")
        user = unquote(raw_user)
        password = unquote(raw_password) if colon else None

    listen = authority.startswith("~")
    if listen:
        authority = authority[1:]

    host, port = _split_host_port(authority, text)
    if not host and not listen:
        raise AddressError(f"address {_shown(text)} has no host")
    if port == 0 and not listen:
        raise AddressError(f"address {_shown(text)}: port 0 is only valid for listening (~)")
    return Address(scheme, user, password, host, port, name_part, listen)


def _split_host_port(authority: str, text: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise AddressError(f"address {_shown(text)}: missing ']' after IPv6 host")
        host, after = authority[1:end], authority[end + 1 :]
        if after and not after.startswith(":"):
            raise AddressError(f"address {_shown(text)}: unexpected {after!r} after IPv6 host")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_raw = authority.partition(":")
        port_text = port_text_raw if colon else None
        if port_text is not None and ":" in port_text:
            raise AddressError(
                f"address {_shown(text)}: too many ':' (write IPv6 hosts as [addr]:port)"
            )
    if any(ch in host for ch in " @~[]"):
        raise AddressError(f"address {_shown(text)}: invalid host {host!r}")
    return host, _parse_port(port_text, text)


def _parse_port(port_text: str | None, text: str) -> int | None:
    if port_text is None:
        return None
    if port_text in DEFAULT_PORTS:
        return DEFAULT_PORTS[port_text]
    if not port_text.isascii() or not port_text.isdigit():
        raise AddressError(f"address {_shown(text)}: port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise AddressError(f"address {_shown(text)}: port {port} is out of range (0-65535)")
    return port


def split_scheme(text: str) -> tuple[str | None, str]:
    """Split ``scheme://rest``; a ``://`` after the first ``/`` belongs to the name."""
    index = text.find("://")
    if index < 0 or "/" in text[:index]:
        return None, text
    return text[:index], text[index + 3 :]


def _shown(text: str) -> str:
    """Quote an address for an error message without leaking its password."""
    scheme, rest = split_scheme(text)
    authority, slash, name = rest.partition("/")
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        authority = f"{user}{':***' if colon else ''}@{host}"
    prefix = f"{scheme}://" if scheme is not None else ""
    return repr(f"{prefix}{authority}{slash}{name}")


def add_credentials(address: str, user: str | None, password: str | None) -> str:
    """``address`` with ``user[:password]@`` added, unless it names a user already.

    Both are percent-encoded, so any character is safe in them.
    """
    if user is None or parse_address(address).user is not None:
        return address
    userinfo = quote(user, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    scheme, rest = split_scheme(address)
    return f"{userinfo}@{rest}" if scheme is None else f"{scheme}://{userinfo}@{rest}"

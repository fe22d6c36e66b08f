"""Messenger address syntax: what parses, what is refused and how it is explained."""

from __future__ import annotations

import pytest

from msgr_tui.messenger import MessengerException
from msgr_tui.messenger.address import Address, AddressError, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amqp://host/queue", Address("amqp", None, None, "host", None, "queue")),
        ("host", Address(None, None, None, "host", None, None)),
        ("host:1234", Address(None, None, None, "host", 1234, None)),
        ("10.0.0.1:99/a/b", Address(None, None, None, "10.0.0.1", 99, "a/b")),
        ("amqps://u:p@h:5/n", Address("amqps", "u", "p", "h", 5, "n")),
        ("u@h", Address(None, "u", None, "h", None, None)),
        ("amqp://u%40x:p%2Fw@h/n", Address("amqp", "u@x", "p/w", "h", None, "n")),
        ("~0.0.0.0:5672", Address(None, None, None, "0.0.0.0", 5672, None, listen=True)),
        ("amqps://~127.0.0.1:0", Address("amqps", None, None, "127.0.0.1", 0, None, listen=True)),
        ("amqp://[::1]:5672/q", Address("amqp", None, None, "::1", 5672, "q")),
        ("amqp://h//queue/x", Address("amqp", None, None, "h", None, "/queue/x")),
        ("amqp://h/", Address("amqp", None, None, "h", None, "")),
        ("amqp://h:amqps", Address("amqp", None, None, "h", 5671, None)),
        ("peer-name/replies", Address(None, None, None, "peer-name", None, "replies")),
        ("h/x://y", Address(None, None, None, "h", None, "x://y")),
    ],
)
def test_valid_addresses_parse(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


def test_default_ports_follow_the_scheme() -> None:
    assert parse_address("amqp://h").effective_port == 5672
    assert parse_address("amqps://h").effective_port == 5671
    assert parse_address("h").effective_port == 5672
    assert parse_address("h").effective_scheme == "amqp"


def test_domain_is_user_host_and_port_as_written() -> None:
    assert parse_address("amqp://u:p@h:7/n").domain == "u@h:7"
    assert parse_address("amqp://peer/n").domain == "peer"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("http://host/q", "unsupported scheme 'http'"),
        ("amqp://host:abc/q", "port 'abc' is not a number"),
        ("amqp://host:70000", "out of range"),
        ("amqp:///queue", "has no host"),
        ("amqp://[::1/q", "missing ']'"),
        ("amqp://a:b:c/q", "too many ':'"),
        ("amqp://host:0/q", "port 0 is only valid for listening"),
        (" host", "spaces"),
        ("ho\x1bst", "control characters"),
    ],
)
def test_bad_addresses_are_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(AddressError, match=None) as caught:
        parse_address(text)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, MessengerException)


def test_errors_never_show_the_password() -> None:
    with pytest.raises(AddressError) as caught:
        parse_address("amqp://user:hunter2@host:bad/q")
    assert "hunter2" not in str(caught.value)
    assert "user:***@host" in str(caught.value)


def test_safe_text_masks_the_password_and_keeps_the_rest() -> None:
    parsed = parse_address("amqps://alice:hunter2@broker:5671/orders")
    assert parsed.safe_text() == "amqps://alice:***@broker:5671/orders"
    assert parsed.without_credentials() == "amqps://broker:5671/orders"


def test_non_string_address_is_a_clear_error() -> None:
    with pytest.raises(AddressError, match="must be a string"):
        parse_address(42)  # type: ignore[arg-type]

"""Bad input, fuzzed: addresses, route/rewrite rules, Compose drafts, display helpers, profiles.

Every entry point that takes text from a user, a config file or a peer must
either work or fail with its documented error (AddressError/MessengerException,
DraftError, ConfigError), never with anything else and never hang. Example
counts are bounded so the whole file runs in seconds; a hang shows up as a
pytest-timeout failure (the old regex matcher took 25 s for ``*a`` x 10).

The end-to-end ``put`` test talks only to a Messenger listening on loopback:
host resolution is fenced (``_loopback_only``) so that a random address can
neither reach the network nor a local broker.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import socket
import string
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from proton import Described, Message, char, symbol, timestamp, ubyte, ulong

from msgr_tui.drafts import (
    BODY_JSON,
    BODY_MODES,
    BODY_TEXT,
    Draft,
    DraftError,
    build_message,
    parse_properties,
)
from msgr_tui.formatting import TEXT_LIMIT, hexdump, pretty_body, preview, printable, to_jsonable
from msgr_tui.messenger import Messenger, MessengerException
from msgr_tui.messenger.address import Address, AddressError, parse_address
from msgr_tui.messenger.rules import Rule, RuleList, default_rewrite, rule_problem
from msgr_tui.profiles import (
    Config,
    ConfigError,
    ConfigRefused,
    parse_text,
    read_config,
    write_config,
)
from tests.helpers import pump_until, stop_all

FAST = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# Nested AMQP/JSON values cost more to draw: fewer of them.
NESTED = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------- strategies

# Any code point, surrogates and controls included: the Python API takes any str.
ANY_CHAR = st.characters(exclude_categories=())
# Characters that mean something to the address grammar and the rule language.
ADDRESS_CHARS = st.sampled_from([*"amqps:/@~[]%*$1234567890.h-_ ", "%40", "%2F", "%3A"])
any_text = st.text(ANY_CHAR, max_size=40)
address_like = st.lists(ADDRESS_CHARS | ANY_CHAR, max_size=30).map("".join)
# The characters that hide or inject: C0/C1 controls, ESC sequences, bidi, zero-width...
NASTY = [
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\x9b31m",
    "\x00",
    "\r",
    "\x7f",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u2028",
    "\u0301",
    "\U000e0041",
    "\ud800",
    "😀",
    "漢字",
    "[/]",
    "[bold]",
]
nasty_text = st.lists(st.sampled_from(NASTY) | ANY_CHAR, max_size=12).map("".join)
encodable_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)

# A password always holds "§", which no other generated part contains, so finding the
# password in a text means it leaked, not that it happens to equal a host or a port.
MARK = "§"
plain_part = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters=MARK), max_size=12
)
host_text = st.from_regex(r"[a-z][a-z0-9.-]{0,15}", fullmatch=True) | st.sampled_from(
    ["127.0.0.1", "[::1]", "[fe80::1%eth0]", "localhost"]
)
secret = st.text(st.characters(exclude_categories=("Cs",)), max_size=12).map(
    lambda text: MARK + text
)


def hidden(char: str) -> bool:
    """What must never reach a terminal: controls, format/bidi, surrogates, separators..."""
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def assert_display_safe(text: str, *, keep_newlines: bool = False) -> None:
    allowed = {"\n", "\t"} if keep_newlines else set()
    bad = [char for char in text if hidden(char) and char not in allowed]
    assert not bad, f"unsafe characters {bad!r} in {text[:200]!r}"
    assert "\x1b" not in text and "\x9b" not in text


# ------------------------------------------------------------ addresses


@FAST
@given(st.one_of(any_text, address_like, nasty_text))
@example("amqp://h\x9b/q")  # C1 control (one-byte CSI): refused since it was found here
@example("amqp://h\ud800/q")  # lone surrogate: Message(address=...) would raise later
def test_parse_address_returns_an_address_or_raises_address_error(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError as error:
        assert isinstance(error, MessengerException)
        assert str(error)
        return
    assert isinstance(address, Address)
    assert address.port is None or 0 <= address.port <= 65535
    whole = "".join(filter(None, (address.user, address.password, address.host, address.name)))
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in whole)
    text.encode("utf-8")  # whatever parses can go into a Message
    # Without credentials, then parsed again: the same address, minus user and password.
    stripped = dataclasses.replace(address, user=None, password=None)
    assert parse_address(address.without_credentials()) == stripped
    # safe_text parses back to the same address with the password masked.
    masked = dataclasses.replace(address, password="***" if address.password is not None else None)
    assert parse_address(address.safe_text()) == masked


@st.composite
def credentialed_addresses(draw: st.DrawFn) -> tuple[str, str, str]:
    """(address text, user, password) with percent-encoded credentials."""
    scheme = draw(st.sampled_from(["", "amqp://", "amqps://"]))
    user = draw(plain_part)
    password = draw(secret)
    host = draw(host_text)
    port = draw(st.sampled_from(["", ":1", ":5672", ":65535", ":amqps"]))
    name = draw(st.none() | plain_part)
    tail = "" if name is None else "/" + name
    text = f"{scheme}{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}{tail}"
    return text, user, password


@FAST
@given(credentialed_addresses())
def test_credentials_round_trip_and_never_show_in_safe_texts(
    case: tuple[str, str, str],
) -> None:
    text, user, password = case
    assume(text == text.strip())  # a name with trailing spaces is refused, rightly
    address = parse_address(text)
    assert (address.user, address.password) == (user, password)
    for shown in (address.without_credentials(), address.safe_text(), repr(address.domain)):
        assert password not in shown
        assert quote(password, safe="") not in shown
    assert address.user is not None
    assert parse_address(address.safe_text()).user == user
    assert parse_address(default_rewrite(text)) == dataclasses.replace(
        address, user=None, password=None
    )
    assert MARK not in default_rewrite(text)


@FAST
@given(
    plain_part.filter(lambda u: ":" not in u and "/" not in u and "@" not in u),
    # Raw (not percent-encoded) passwords: '@' and ':' are fine, '/' ends the domain
    # (as in Proton's parser), '%' would be decoded.
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/%"), max_size=12),
    host_text,
    st.sampled_from([":x", ":99999", ":-1", ":1:2", ":", "[", ":%20"]),
)
def test_error_texts_for_bad_addresses_never_contain_the_password(
    user: str, raw: str, host: str, bad_port: str
) -> None:
    password = MARK + raw
    text = f"amqp://{user}:{password}@{host}{bad_port}/queue"
    with pytest.raises(AddressError) as caught:
        parse_address(text)
    assert password not in str(caught.value)
    assert password not in repr(caught.value)


# ---------------------------------------------------------------- rules


def backtracking_apply(pattern: str, replacement: str | None, address: str) -> tuple[bool, Any]:
    """The matcher as it was before the ReDoS fix: greedy regex groups (Proton's semantics)."""
    parts = ["([^/]*)" if ch == "%" else "(.*)" if ch == "*" else re.escape(ch) for ch in pattern]
    found = re.fullmatch("".join(parts), address, flags=re.DOTALL)
    if found is None:
        return False, None
    if replacement is None:
        return True, None
    groups = found.groups()
    return True, re.sub(r"\$(\d+)", lambda ref: groups[int(ref.group(1)) - 1], replacement)


@FAST
@given(
    st.text(st.sampled_from("ab/%*"), max_size=7),
    st.text(st.sampled_from("ab/"), max_size=12),
)
def test_the_matcher_returns_what_a_greedy_backtracking_matcher_returns(
    pattern: str, address: str
) -> None:
    groups = pattern.count("%") + pattern.count("*")
    replacement = "|".join(f"${n}" for n in range(1, groups + 1)) + "."
    rule = Rule.compile(pattern, replacement)
    assert rule.apply(address) == backtracking_apply(pattern, replacement, address)


def glob_matches(pattern: str, address: str) -> bool:
    """Whether ``pattern`` matches all of ``address``, in time linear in each (no backtracking).

    ``reachable[j]``: the pattern so far can match ``address[:j]``.
    """
    size = len(address)
    reachable = [True] + [False] * size
    for wanted in pattern:
        step = [False] * (size + 1)
        for j in range(size + 1):
            if wanted == "*":
                step[j] = reachable[j] or (j > 0 and step[j - 1])
            elif wanted == "%":
                step[j] = reachable[j] or (j > 0 and step[j - 1] and address[j - 1] != "/")
            else:
                step[j] = j > 0 and reachable[j - 1] and address[j - 1] == wanted
        reachable = step
    return reachable[size]


@pytest.mark.timeout(20)
@SLOW
@given(
    st.text(st.sampled_from("a/%*"), min_size=20, max_size=60),
    st.text(st.sampled_from("a/b"), min_size=50, max_size=400),
)
@example("*a" * 30 + "b", "a" * 400)  # the old regex took ~25 s for ten '*a', years for 30
@example("%a" * 30 + "%", "a" * 400)
def test_patterns_with_many_wildcards_finish_with_the_right_answer(
    pattern: str, address: str
) -> None:
    matched, _ = Rule.compile(pattern, None).apply(address)
    assert matched is glob_matches(pattern, address)


@FAST
@given(st.one_of(any_text, address_like), st.none() | any_text | address_like, address_like)
@example("*", "$2", "x")
@example("%", "$0", "x")
@example("*", "\ud800$1", "x")
def test_rules_compile_or_raise_messenger_exception_and_apply_never_fails(
    pattern: str, replacement: str | None, address: str
) -> None:
    try:
        rule = Rule.compile(pattern, replacement)
    except MessengerException as error:
        assert str(error)
        return
    matched, result = rule.apply(address)
    assert matched is glob_matches(pattern, address)
    if matched and replacement is not None:
        assert isinstance(result, str)
        result.encode("utf-8")  # it goes into a Message
    rules = RuleList()
    rules.add(pattern, replacement)
    assert rules.apply(address) == (matched, result if matched else None)


@FAST
@given(st.one_of(any_text, address_like))
def test_default_rewrite_never_fails_and_keeps_addresses_without_credentials(
    address: str,
) -> None:
    written = default_rewrite(address)
    assert isinstance(written, str)
    try:
        parsed = parse_address(address)
    except AddressError:
        return
    if parsed.user is None:
        assert written == address
    else:
        assert parse_address(written) == dataclasses.replace(parsed, user=None, password=None)


# ------------------------------------------------ Messenger, end to end

PEER_NAME = "fuzz-peer"
# The password of the fuzzed addresses: no other generated part contains it.
FUZZ_PASSWORD = "s3cr3t-pw"


@contextmanager
def _loopback_only(allowed_port: int) -> Iterator[None]:
    """Resolve only 127.0.0.1 at ``allowed_port``; every other host:port fails to resolve.

    Random addresses must not send DNS queries or reach a broker on 5672.
    """
    real = socket.getaddrinfo

    def fenced(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "127.0.0.1" and str(port) == str(allowed_port):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "not resolved by the test fence")

    socket.getaddrinfo = fenced
    try:
        yield
    finally:
        socket.getaddrinfo = real


@pytest.fixture(scope="module")
def fuzz_peer() -> Iterator[tuple[Messenger, int, dict[str, Any]]]:
    """A receiver on loopback; ``seen`` maps message ids to received addresses."""
    receiver = Messenger(PEER_NAME)
    receiver.blocking = False
    receiver.start()
    port = receiver.subscribe("amqp://~127.0.0.1:0").port
    receiver.recv(-1)
    seen: dict[str, Any] = {}
    yield receiver, port, seen
    stop_all(receiver)


def drain(receiver: Messenger, seen: dict[str, Any]) -> None:
    message = Message()
    while receiver.incoming:
        receiver.get(message)
        seen[str(message.id)] = message.address


def pump_tolerant(
    messengers: list[Messenger],
    condition: Callable[[], bool],
    failures: list[MessengerException],
    timeout: float = 15.0,
) -> None:
    """Pump until ``condition``. ``work`` may report failed connections (a refused
    login, TLS against a plain listener...), but only as MessengerException."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the fuzzed messages"
        for messenger in messengers:
            try:
                messenger.work(0.002)
            except MessengerException as error:
                failures.append(error)


@st.composite
def put_addresses(draw: st.DrawFn, port: int) -> str:
    """Addresses for put: mostly well-formed around the peer, plus random ones."""
    structured = draw(st.integers(0, 3)) > 0
    if not structured:
        text = draw(address_like | encodable_text)
        assume(not any(0xD800 <= ord(c) <= 0xDFFF for c in text))  # Message refuses them
        return text
    # Weighted towards the peer, so that a good share of puts really travel.
    scheme = draw(st.sampled_from(["", "", "amqp://", "amqp://", "amqps://", "bogus://"]))
    user = draw(st.sampled_from(["", "", "", "u@", f"u:{FUZZ_PASSWORD}@", "%zz:%41@", "a@b@"]))
    domain = draw(
        st.sampled_from(
            [
                *[f"127.0.0.1:{port}"] * 8,
                PEER_NAME,
                f"~127.0.0.1:{port}",
                "127.0.0.1:0",
                "127.0.0.1:70000",
                "[::1",
                "a:b:c",
                "",
                "elsewhere.invalid:5672",
            ]
        )
    )
    name = draw(st.none() | plain_part | st.sampled_from(["a/b", "q", "%", "*", "$1"]))
    return f"{scheme}{user}{domain}" + ("" if name is None else f"/{name}")


rule_pairs = st.lists(
    st.tuples(
        st.sampled_from(["*", "%", "amqp://*", "*/q", "%/%", "127.0.0.1:*", "x", ""])
        | address_like,
        st.none()
        | st.sampled_from(["$1", "amqp://127.0.0.1:PORT/$1", "$2", "fuzz-peer/$1", "~x", ""])
        | address_like,
    ),
    max_size=2,
).filter(lambda rules: len(rules) < 2 or rules[0] != rules[1])
routes_or_none = st.one_of(st.just([]), st.just([]), rule_pairs)


@pytest.mark.timeout(60)
def test_put_with_random_addresses_and_rules_sends_or_raises_messenger_exception(
    fuzz_peer: tuple[Messenger, int, dict[str, Any]],
) -> None:
    """Whatever the rules and addresses: put queues a message or raises MessengerException.

    What the rules write into a message is not predicted here (that would check
    our rules against themselves): ``test_rules_oracle.py`` pins it against the
    original Messenger. This test checks what must hold for any input.
    """
    receiver, port, seen = fuzz_peer
    # Message id -> (the address put, whether its Messenger had rewrite rules).
    sent: dict[str, tuple[str, bool]] = {}
    outcomes = {"sent": 0, "refused": 0, "bad rule": 0}
    failures: list[MessengerException] = []
    ids = itertools.count()

    @settings(
        max_examples=60,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(
        routes=routes_or_none,
        rewrites=routes_or_none,
        addresses=st.lists(put_addresses(port), min_size=1, max_size=4),
    )
    # A password routed to the peer: the check below must apply at least once.
    @example(
        routes=[("*", "amqp://127.0.0.1:PORT/$1")],
        rewrites=[],
        addresses=[f"amqp://u:{FUZZ_PASSWORD}@elsewhere.invalid:5672/q"],
    )
    def scenario(
        routes: list[tuple[str, str | None]],
        rewrites: list[tuple[str, str | None]],
        addresses: list[str],
    ) -> None:
        sender = Messenger(f"fuzz-sender-{next(ids)}")
        sender.blocking = False
        rewriting = False
        for pattern, replacement in routes:
            target = None if replacement is None else replacement.replace("PORT", str(port))
            try:
                sender.route(pattern, target)  # type: ignore[arg-type]
            except MessengerException:
                outcomes["bad rule"] += 1
        for pattern, replacement in rewrites:
            target = None if replacement is None else replacement.replace("PORT", str(port))
            try:
                sender.rewrite(pattern, target)
            except MessengerException:
                outcomes["bad rule"] += 1
                continue
            rewriting = True
        sender.start()
        try:
            for address in addresses:
                message = Message(address=address, body=address)
                message.id = f"m{next(ids)}"
                before = sender.outgoing
                try:
                    sender.put(message)
                except MessengerException as error:
                    assert str(error)
                    assert sender.outgoing == before  # nothing half-queued
                    outcomes["refused"] += 1
                    continue
                assert message.address == address  # the caller's message is untouched
                sent[message.id] = (address, rewriting)
                outcomes["sent"] += 1
            # Let what can be delivered reach the peer, then close.
            pump_tolerant([sender, receiver], lambda: sender.outgoing == 0, failures)
            sender.stop()
            pump_tolerant([sender, receiver], lambda: sender.stopped, failures)
        finally:
            if not sender.stopped:
                stop_all(sender)
        drain(receiver, seen)

    with _loopback_only(port):
        scenario()
    pump_until([receiver], lambda: (drain(receiver, seen), set(seen) <= set(sent))[1])
    assert seen, "no fuzzed message reached the peer: the strategy lost its way"
    # Only messages that put accepted arrive, each once (ids are unique).
    assert set(seen) <= set(sent)
    # Without a rewrite rule the default rewrite applies: a password never travels.
    checked = 0
    for message_id, address in seen.items():
        put, rewriting = sent[message_id]
        if not rewriting and FUZZ_PASSWORD in put:
            assert FUZZ_PASSWORD not in (address or ""), address
            checked += 1
    assert checked > 0, "no message with a password reached the peer"
    assert outcomes["refused"] > 0 and outcomes["sent"] > 0, outcomes
    assert all(str(failure) for failure in failures)


# ---------------------------------------------------------------- compose

property_line = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", nasty_text | encodable_text, nasty_text | encodable_text),
    st.sampled_from(["", "# comment", "novalue", "=x", " = x", "a=1", "a=2", "n=1e999"]),
    st.builds(lambda n: f"big={n}", st.integers(min_value=-(2**70), max_value=2**70)),
    st.builds(lambda d: "deep=" + "[" * d, st.integers(min_value=1, max_value=50_000)),
    any_text,
)
drafts = st.builds(
    Draft,
    address=st.one_of(address_like, st.just("amqp://127.0.0.1:5672/q"), nasty_text),
    body=st.one_of(nasty_text, any_text, st.binary(max_size=64), st.just('{"a": [1, 2]}')),
    body_mode=st.sampled_from([*BODY_MODES, "xml", ""]),
    subject=nasty_text,
    reply_to=st.sampled_from(["", "~", "~/x", "amqp://h/r", "~\ud800"]) | address_like,
    correlation_id=nasty_text,
    content_type=st.sampled_from(["", "application/json", " "]) | nasty_text,
    ttl=st.sampled_from(["", "1", "0.5", "-1", "nan", "inf", "1e400", "4294967", "4294968"])
    | any_text,
    priority=st.sampled_from(["", "0", "4", "255", "256", "-1", "٣", "1" * 5000]) | any_text,
    durable=st.booleans(),
    properties=st.lists(property_line, max_size=5).map("\n".join),
)
DRAFT_FIELDS = {f.name for f in dataclasses.fields(Draft)}


@FAST
@given(drafts)
@example(Draft("amqp://h/q", body="[" * 100_000, body_mode=BODY_JSON))  # was RecursionError
@example(Draft("amqp://h/q", properties="n=99999999999999999999"))  # was OverflowError at send
@example(Draft("amqp://h/q", subject="\ud800"))  # was UnicodeEncodeError at send
@example(Draft("amqp://h/q", body='"\\udc00"', body_mode=BODY_JSON))
def test_build_message_gives_an_encodable_message_or_a_draft_error(draft: Draft) -> None:
    try:
        message = build_message(draft)
    except DraftError as error:
        assert error.field in DRAFT_FIELDS
        assert str(error)
        return
    data = message.encode()
    copy = Message()
    copy.decode(data)
    assert copy.address == draft.address.strip()
    if isinstance(draft.body, bytes) or draft.body_mode == BODY_TEXT:
        assert copy.body == draft.body
    else:
        assert json.loads(copy.body) == json.loads(draft.body)


@FAST
@given(st.lists(property_line, max_size=6).map("\n".join))
def test_parse_properties_gives_a_dict_or_a_draft_error_on_properties(text: str) -> None:
    try:
        properties = parse_properties(text)
    except DraftError as error:
        assert error.field == "properties"
        assert str(error).startswith("line ")
        return
    message = Message(body=None)
    message.properties = properties
    message.encode()  # every accepted value travels


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    encodable_text,
)
property_keys = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="=\x85"),
    min_size=1,
    max_size=12,
).filter(lambda key: key == key.strip() and key and not key.startswith("#"))


@FAST
@given(st.dictionaries(property_keys, json_scalars, max_size=6))
def test_properties_written_as_json_values_read_back_the_same(props: dict[str, Any]) -> None:
    text = "\n".join(f"{key}={json.dumps(value)}" for key, value in props.items())
    assert parse_properties(text) == props


json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner) | st.dictionaries(encodable_text, inner),
    max_leaves=20,
)


@NESTED
@given(json_values)
def test_a_json_body_arrives_as_the_same_json(value: Any) -> None:
    message = build_message(Draft("amqp://h/q", body=json.dumps(value), body_mode=BODY_JSON))
    copy = Message()
    copy.decode(message.encode())
    assert copy.content_type == "application/json"
    assert json.loads(copy.body) == value


# --------------------------------------------------------------- display

amqp_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    nasty_text,
    any_text,
    st.binary(max_size=80),
    nasty_text.map(symbol),
    st.integers(min_value=0, max_value=2**64 - 1).map(ulong),
    st.integers(min_value=0, max_value=255).map(ubyte),
    st.integers(min_value=0, max_value=2**40).map(timestamp),
    st.sampled_from(NASTY).map(lambda s: char(s[0])),
    st.uuids(),
)
amqp_keys = st.one_of(
    nasty_text,
    nasty_text.map(symbol),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=0, max_value=2**64 - 1).map(ulong),
    st.binary(max_size=8),
)
amqp_values = st.recursive(
    amqp_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(amqp_keys, inner, max_size=4),
        st.builds(Described, nasty_text.map(symbol) | st.integers(0, 2**64 - 1).map(ulong), inner),
    ),
    max_leaves=20,
)


def deeply_nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@FAST
@given(st.one_of(any_text, nasty_text), st.booleans())
def test_printable_never_lets_a_control_or_format_character_through(
    text: str, keep_newlines: bool
) -> None:
    shown = printable(text, keep_newlines=keep_newlines)
    assert_display_safe(shown, keep_newlines=keep_newlines)
    if not keep_newlines:
        assert "\n" not in shown and "\t" not in shown
    if not any(hidden(c) for c in text):
        assert shown == text  # safe text is shown as it is


@NESTED
@given(amqp_values, st.integers(min_value=0, max_value=300))
@example(b"\x00\x1b" * 100, 0)  # limit 0 returned 11 characters
def test_preview_is_safe_one_line_and_within_its_limit(value: Any, limit: int) -> None:
    shown = preview(value, limit)
    assert_display_safe(shown)
    assert "\n" not in shown
    assert len(shown) <= limit


@NESTED
@given(amqp_values, st.none() | st.sampled_from(["application/json", "text/plain", "x/json"]))
@example("[" * 100_000, "application/json")  # a peer's body; was RecursionError
@example(b"[" * 100_000, None)
@example("\x1b[2J\x1b]0;pwned\x07\u202e", None)
@example(b"", None)
def test_pretty_body_is_safe_for_any_amqp_value(value: Any, content_type: str | None) -> None:
    kind, text = pretty_body(value, content_type)
    assert_display_safe(kind)
    assert_display_safe(text, keep_newlines=True)
    if isinstance(value, (bytes, bytearray)) and not text.startswith("0000"):
        value.decode("utf-8")  # shown as text only when it is text (raises otherwise)
    if value is not None and not isinstance(value, (str, bytes, list)):
        assert text  # something is always shown


@pytest.mark.parametrize("depth", [100, 900, 5000])
def test_deeply_nested_values_are_shown_without_crashing(depth: int) -> None:
    # A hostile peer can nest lists far deeper than Python's recursion limit.
    value = deeply_nested(depth)
    for shown in (preview(value, 80), *pretty_body(value)):
        assert_display_safe(shown, keep_newlines=True)
        assert shown
    assert len(preview(value, 80)) <= 80


@pytest.mark.parametrize("piece", ["text\n", "\x1b[1m\u202e"])
def test_huge_bodies_are_shown_cut_with_a_note(piece: str) -> None:
    body = piece * (16 * 1024 * 1024 // len(piece.encode()))
    for value in (body, body.encode()):
        kind, text = pretty_body(value)
        assert_display_safe(text, keep_newlines=True)
        assert len(text) < TEXT_LIMIT * len("\\x1b") + 100
        assert "more characters not shown" in text or "more bytes not shown" in text
        assert str(len(value)) in kind


@FAST
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=700))
def test_hexdump_is_printable_ascii_and_reads_back_to_the_bytes(data: bytes, limit: int) -> None:
    dump = hexdump(data, limit)
    assert all(c in string.printable or c == "…" for c in dump)
    assert_display_safe(dump, keep_newlines=True)
    lines = [line for line in dump.split("\n") if line and not line.startswith("…")]
    read_back = b"".join(bytes.fromhex(line[10:57]) for line in lines)
    assert read_back == data[:limit]
    if len(data) > limit:
        assert dump.endswith(f"… {len(data) - limit} more bytes not shown")


@NESTED
@given(amqp_values)
def test_to_jsonable_always_gives_json_that_shows_safely(value: Any) -> None:
    converted = to_jsonable(value)
    text = json.dumps(converted, ensure_ascii=False)
    json.loads(text)
    assert_display_safe(printable(text))
    if isinstance(value, (bytes, bytearray)):
        key = "$binary" if "$binary" in converted else "$binary_hex"
        assert key in converted
    if isinstance(value, float) and not math.isnan(value):
        assert converted == value


# --------------------------------------------------------------- profiles


toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    nasty_text.filter(lambda s: "\ud800" not in s),
    encodable_text,
    st.sampled_from(
        ["amqp://~127.0.0.1:0", "amqp://h/q", "~", "amqp://u:p@h", "*", "$1", "PATH", ""]
    ),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(encodable_text, inner, max_size=3),
    max_leaves=8,
)
PROFILE_KEYS = [
    "messenger_name",
    "listen",
    "subscribe",
    "compose_address",
    "routes",
    "rewrites",
    "timeout",
    "incoming_window",
    "outgoing_window",
    "max_messages",
    "theme",
    "user",
    "password",
    "password_env",
    "store_password_in_file",
    "retry",
    "tls",
    "prot",
]
profile_tables = st.dictionaries(st.sampled_from(PROFILE_KEYS), toml_values, max_size=5)
documents = st.fixed_dictionaries(
    {},
    optional={
        "default_profile": toml_scalars,
        "profiles": st.dictionaries(encodable_text, profile_tables, max_size=3) | toml_values,
        "other": toml_values,
    },
)


@st.composite
def config_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["structured", "text", "bytes"]))
    if kind == "structured":
        return tomli_w.dumps(draw(documents)).encode("utf-8")
    if kind == "text":
        pieces = st.sampled_from(["[profiles.a]\n", 'user = "u"\n', "x = [\n", '"""', "=", "\n"])
        text = draw(st.lists(pieces | encodable_text, max_size=8).map("".join))
        return text.encode("utf-8")
    return draw(st.binary(max_size=200))


@SLOW
@given(config_files())
def test_the_profile_loader_loads_or_raises_config_error_and_never_overwrites(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    try:
        loaded = read_config(path)
    except ConfigError as error:
        assert str(error)
        assert path.read_bytes() == data
        # A file that does not load is never overwritten, not even by a save.
        with pytest.raises(ConfigRefused):
            write_config(path, Config())
        assert path.read_bytes() == data
        return
    assert path.read_bytes() == data
    # What loaded saves and loads back to the same profiles.
    write_config(path, loaded.config, unchanged_since=loaded)
    assert read_config(path).config == loaded.config


@SLOW
@given(st.sampled_from([("*", "$2"), ("%/%", "$3"), ("x", "amqp://h/$1")]))
def test_profile_routes_that_refer_past_their_wildcards_are_config_errors(
    tmp_path_factory: pytest.TempPathFactory, rule: tuple[str, str]
) -> None:
    assert rule_problem(*rule) is not None  # the Messenger takes it; a profile must not
    text = tomli_w.dumps({"profiles": {"p": {"routes": [list(rule)]}}})
    with pytest.raises(ConfigError):
        parse_text(text, Path("config.toml"))


def test_fuzz_fence_refuses_every_host_but_the_peer() -> None:
    with _loopback_only(1), pytest.raises(socket.gaierror):
        socket.getaddrinfo("127.0.0.1", 5672)
    with _loopback_only(1), pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.invalid", 1)

"""Route and rewrite patterns: % within a segment, * across, $N substitutions."""

from __future__ import annotations

import pytest

from msgr_tui.messenger import MessengerException
from msgr_tui.messenger.rules import Rule, RuleList, default_rewrite


@pytest.mark.parametrize(
    ("pattern", "replacement", "address", "expected"),
    [
        ("amqp://%/*", "amqp://broker/$2", "amqp://host/a/b", "amqp://broker/a/b"),
        ("%/*", "$1:5673/$2", "host/queue/x", "host:5673/queue/x"),
        ("*", "amqp://relay/$1", "anything/at/all", "amqp://relay/anything/at/all"),
        ("amqp://%", "amqp://$1:1234", "amqp://host", "amqp://host:1234"),
        ("exact", "other", "exact", "other"),
        ("a*b*c", "$1|$2", "axxbyybzzc", "xxbyy|zz"),  # greedy, like Proton's matcher
        ("price$", "cost$", "price$", "cost$"),
    ],
)
def test_matching_rules_substitute_wildcard_runs(
    pattern: str, replacement: str, address: str, expected: str
) -> None:
    assert Rule.compile(pattern, replacement).apply(address) == (True, expected)


@pytest.mark.parametrize(
    ("pattern", "address"),
    [
        ("amqp://%", "amqp://host/queue"),  # % stops at '/'
        ("exact", "exactly"),  # the whole address must match
        ("a.c", "abc"),  # '.' is literal, not a regex wildcard
    ],
)
def test_non_matching_addresses_are_left_alone(pattern: str, address: str) -> None:
    assert Rule.compile(pattern, "x").apply(address) == (False, None)


def test_first_matching_rule_wins_in_insertion_order() -> None:
    rules = RuleList()
    rules.add("amqp://special/*", "amqp://one/$1")
    rules.add("amqp://*", "amqp://two/$1")
    assert rules.apply("amqp://special/q") == (True, "amqp://one/q")
    assert rules.apply("amqp://other/q") == (True, "amqp://two/other/q")


def test_none_replacement_removes_the_address() -> None:
    assert Rule.compile("*", None).apply("anything") == (True, None)


def test_replacement_referring_to_a_missing_wildcard_is_refused() -> None:
    with pytest.raises(MessengerException, match=r"refers to \$3.*has 2 wildcard"):
        Rule.compile("%/*", "$3")
    with pytest.raises(MessengerException, match="has no wildcards"):
        Rule.compile("plain", "$1")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("amqp://u:p@h:1/n", "amqp://h:1/n"),
        ("u@h", "h"),
        ("amqps://user@host/q", "amqps://host/q"),
        ("amqp://h/n", "amqp://h/n"),
        ("amqp://h/with@at", "amqp://h/with@at"),  # '@' in the name is not userinfo
    ],
)
def test_default_rewrite_strips_only_the_credentials(address: str, expected: str) -> None:
    assert default_rewrite(address) == expected

"""Route and rewrite patterns: % within a segment, * across, $N substitutions."""

from __future__ import annotations

import pytest

from msgr_tui.messenger.rules import Rule, RuleList, default_rewrite, rule_problem


@pytest.mark.parametrize(
    ("pattern", "replacement", "address", "expected"),
    [
        ("amqp://%/*", "amqp://broker/$2", "amqp://host/a/b", "amqp://broker/a/b"),
        ("%/*", "$1:5673/$2", "host/queue/x", "host:5673/queue/x"),
        ("*", "amqp://relay/$1", "anything/at/all", "amqp://relay/anything/at/all"),
        ("amqp://%", "amqp://$1:1234", "amqp://host", "amqp://host:1234"),
        ("exact", "other", "exact", "other"),
        # Seen on the original Messenger (see test_rules_oracle.py, which pins these on the wire):
        ("a*b*c", "$1|$2", "axxbyybzzc", "xxbyy|zz"),  # greedy runs
        ("pr%", "a$$b", "price", "a$b"),  # '$$' writes one '$'
        ("price$", "cost$", "price$", "costprice$"),  # a '$' without a digit: the whole address
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


def test_a_reference_past_the_wildcards_stands_for_nothing_as_in_the_original() -> None:
    # The original takes such a rule (test_rules_oracle pins its deliveries);
    # rule_problem names it for the profiles, which refuse it.
    assert Rule.compile("%/*", "x$3y").apply("a/b") == (True, "xy")
    assert Rule.compile("plain", "amqp://h/$1").apply("plain") == (True, "amqp://h/")
    assert Rule.compile("%/*", "$0!").apply("a/b") == (True, "a/b!")
    assert rule_problem("%/*", "$3") is not None and "has 2 wildcard" in rule_problem("%/*", "$3")
    assert "has no wildcards" in (rule_problem("plain", "$1") or "")
    assert rule_problem("%/*", "$2$1$0$$9") is None


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

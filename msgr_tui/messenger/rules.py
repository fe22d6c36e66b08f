"""Route and rewrite rules: ``%`` / ``*`` patterns with ``$N`` substitutions.

A pattern must match the whole address. ``%`` matches a run of characters
without ``/``, ``*`` any run; every other character matches itself. Like
Proton's original matcher, wildcards are greedy. In the replacement ``$1``,
``$2`` ... stand for the runs matched by the wildcards, in order; as in the
original, ``$0`` (or a ``$`` followed by no digit) is the whole address,
``$$`` is one ``$``, and a number past the last wildcard stands for nothing.
:func:`rule_problem` names that last case for front ends that would rather
refuse it (the profiles do).

Matching takes time proportional to pattern length times address length,
whatever the pattern: a backtracking matcher (a regex of ``(.*)`` groups, or
Proton's recursive one) takes exponential time on patterns like ``*a*a*a*b``,
so one configured rule could hang every ``put``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .address import split_scheme
from .errors import MessengerException

__all__ = ["Rule", "RuleList", "default_rewrite", "rule_problem"]

# "$$", or "$" and its digits (none: group 0, the whole address).
_SUBSTITUTION = re.compile(r"\$(\$|\d*)")


Token = tuple[Literal["text", "%", "*"], str]


@dataclass(frozen=True)
class Rule:
    """One compiled ``pattern -> replacement`` rule (``None`` removes the address)."""

    pattern: str
    replacement: str | None
    tokens: tuple[Token, ...] = field(repr=False, compare=False)

    @classmethod
    def compile(cls, pattern: str, replacement: str | None) -> Rule:
        if not isinstance(pattern, str):
            raise MessengerException(f"pattern must be a string, not {type(pattern).__name__}")
        if replacement is not None and not isinstance(replacement, str):
            raise MessengerException(
                f"replacement for pattern {pattern!r} must be a string or None, "
                f"not {type(replacement).__name__}"
            )
        for what, text in (("pattern", pattern), ("replacement", replacement)):
            if text is not None and not _encodable(text):
                raise MessengerException(
                    f"{what} {text!r} is not valid Unicode text (it has a lone surrogate)"
                )
        tokens: list[Token] = []
        groups = 0
        for ch in pattern:
            if ch == "%" or ch == "*":
                tokens.append((ch, ""))
                groups += 1
            elif tokens and tokens[-1][0] == "text":
                tokens[-1] = ("text", tokens[-1][1] + ch)
            else:
                tokens.append(("text", ch))
        return cls(pattern, replacement, tuple(tokens))

    def apply(self, address: str) -> tuple[bool, str | None]:
        """Return ``(matched, result)``; ``result`` is only meaningful when matched."""
        captured = match(self.tokens, address)
        if captured is None:
            return False, None
        if self.replacement is None:
            return True, None
        if "$" not in self.replacement:
            return True, self.replacement

        def substitute(ref: re.Match[str]) -> str:
            token = ref.group(1)
            if token == "$":
                return "$"
            index = int(token) if token else 0
            if index == 0:
                return address
            return captured[index - 1] if index <= len(captured) else ""

        return True, _SUBSTITUTION.sub(substitute, self.replacement)


def rule_problem(pattern: str, replacement: str | None) -> str | None:
    """Why a rule is most likely a mistake, or None: a ``$N`` past the pattern's wildcards.

    The Messenger takes such a rule, as the original did (the reference
    stands for nothing); a configuration file can do better and refuse it.
    """
    if replacement is None:
        return None
    groups = pattern.count("%") + pattern.count("*")
    for ref in _SUBSTITUTION.finditer(replacement):
        token = ref.group(1)
        if token == "$" or not token:
            continue
        index = int(token)
        if index > groups:
            return (
                f"replacement {replacement!r} refers to ${index}, but pattern {pattern!r} has "
                + (
                    f"{groups} wildcard(s) (% or *); use $1..${groups}"
                    if groups
                    else "no wildcards (% or *)"
                )
                + " ($0 is the whole address)"
            )
    return None


def match(tokens: tuple[Token, ...], address: str) -> list[str] | None:
    """The runs the wildcards of ``tokens`` match in the whole ``address`` (greedy), or None.

    Works backwards first: ``reach[i]`` is a bit set of the positions from
    which ``tokens[i:]`` can match the rest of the address. Then each
    wildcard, left to right, takes the longest run after which the rest can
    still match: exactly what a greedy backtracking matcher returns, without
    its exponential search.
    """
    size = len(address)
    reach = [0] * (len(tokens) + 1)
    reach[-1] = 1 << size
    segments: list[tuple[int, int]] | None = None
    for index in range(len(tokens) - 1, -1, -1):
        after = reach[index + 1]
        if not after:
            return None
        kind, text = tokens[index]
        bits = 0
        if kind == "text":
            found = address.find(text)
            while found >= 0:
                if after >> (found + len(text)) & 1:
                    bits |= 1 << found
                found = address.find(text, found + 1)
        elif kind == "*":
            # Any position up to the furthest one the rest can start from.
            bits = (1 << after.bit_length()) - 1
        else:
            if segments is None:
                segments = _segments(address)
            for start, end in segments:
                window = (after >> start) & ((1 << (end - start + 1)) - 1)
                if window:
                    furthest = start + window.bit_length() - 1
                    bits |= ((1 << (furthest + 1)) - 1) ^ ((1 << start) - 1)
        reach[index] = bits
    if not reach[0] & 1:
        return None
    captured: list[str] = []
    position = 0
    for index, (kind, text) in enumerate(tokens):
        if kind == "text":
            position += len(text)
            continue
        limit = size
        if kind == "%":
            slash = address.find("/", position)
            limit = size if slash < 0 else slash
        window = (reach[index + 1] >> position) & ((1 << (limit - position + 1)) - 1)
        end = position + window.bit_length() - 1
        captured.append(address[position:end])
        position = end
    return captured


def _segments(address: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each run without ``/``; ``end`` is the ``/`` (or the end) after it."""
    segments = []
    start = 0
    for index, char in enumerate(address):
        if char == "/":
            segments.append((start, index))
            start = index + 1
    segments.append((start, len(address)))
    return segments


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RuleList:
    """An ordered list of rules; the first match wins."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add(self, pattern: str, replacement: str | None) -> None:
        self.rules.append(Rule.compile(pattern, replacement))

    def apply(self, address: str) -> tuple[bool, str | None]:
        for rule in self.rules:
            matched, result = rule.apply(address)
            if matched:
                return True, result
        return False, None

    def __bool__(self) -> bool:
        return bool(self.rules)


def default_rewrite(address: str) -> str:
    """Drop ``user[:password]@`` from an address, keeping everything else.

    ``amqp://u:p@h:1/n`` becomes ``amqp://h:1/n`` and ``u@h`` becomes ``h``.
    Text that is not an address with credentials is returned unchanged.
    """
    scheme, rest = split_scheme(address)
    authority, slash, name = rest.partition("/")
    if "@" not in authority:
        return address
    prefix = f"{scheme}://" if scheme is not None else ""
    return f"{prefix}{authority.rsplit('@', 1)[1]}{slash}{name}"

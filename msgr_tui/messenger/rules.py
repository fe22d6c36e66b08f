"""Route and rewrite rules: ``%`` / ``*`` patterns with ``$N`` substitutions.

A pattern must match the whole address. ``%`` matches a run of characters
without ``/``, ``*`` any run; every other character matches itself. Like
Proton's original matcher, wildcards are greedy. In the replacement ``$1``,
``$2`` ... stand for the runs matched by the wildcards, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .address import split_scheme
from .errors import MessengerException

__all__ = ["Rule", "RuleList", "default_rewrite"]

_GROUP_REF = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Rule:
    """One compiled ``pattern -> replacement`` rule (``None`` removes the address)."""

    pattern: str
    replacement: str | None
    regex: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def compile(cls, pattern: str, replacement: str | None) -> Rule:
        if not isinstance(pattern, str):
            raise MessengerException(f"pattern must be a string, not {type(pattern).__name__}")
        if replacement is not None and not isinstance(replacement, str):
            raise MessengerException(
                f"replacement for pattern {pattern!r} must be a string or None, "
                f"not {type(replacement).__name__}"
            )
        parts = []
        groups = 0
        for ch in pattern:
            if ch == "%":
                parts.append("([^/]*)")
                groups += 1
            elif ch == "*":
                parts.append("(.*)")
                groups += 1
            else:
                parts.append(re.escape(ch))
        if replacement is not None:
            for ref in _GROUP_REF.finditer(replacement):
                index = int(ref.group(1))
                if index < 1 or index > groups:
                    raise MessengerException(
                        f"replacement {replacement!r} refers to ${index}, but pattern "
                        f"{pattern!r} has {groups} wildcard(s) (% or *); use $1..${groups}"
                        if groups
                        else f"replacement {replacement!r} refers to ${index}, but pattern "
                        f"{pattern!r} has no wildcards (% or *)"
                    )
        return cls(pattern, replacement, re.compile("".join(parts), re.DOTALL))

    def apply(self, address: str) -> tuple[bool, str | None]:
        """Return ``(matched, result)``; ``result`` is only meaningful when matched."""
        match = self.regex.fullmatch(address)
        if match is None:
            return False, None
        if self.replacement is None:
            return True, None
        captured = match.groups()
        return True, _GROUP_REF.sub(lambda ref: captured[int(ref.group(1)) - 1], self.replacement)


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

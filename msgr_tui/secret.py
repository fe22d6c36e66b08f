"""A secret that shows as ``********`` everywhere except where it is used.

Crash reports (Textual prints tracebacks with local variables), logs, ``repr``
and f-strings all go through ``repr``/``str``/``format``, so a password held
in a :class:`Secret` cannot end up in any of them by accident; only
:meth:`Secret.reveal` gives the text back.
"""

from __future__ import annotations

import hmac

MASK = "********"


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds text")
        self._value = value

    def reveal(self) -> str:
        """The secret text: call this only where the secret is handed to its consumer."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> object:
        # Pickling would write the secret out somewhere: refuse rather than leak.
        raise TypeError("secrets are not picklable")

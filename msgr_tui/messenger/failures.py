"""Why a connection or a link failed, as data (an extension to the original API).

The original Messenger wrote the reason of a failure on the wire to its log
and reported the affected messages as ABORTED. This one keeps the reason:
:meth:`Messenger.failure` answers it for an aborted tracker,
:attr:`Subscription.failure` for a subscription, the ``on_event`` callback
hears it as it happens, and the exceptions raised in ``raise_failures`` mode
carry it. Nothing here is meant to be parsed: the condition is the peer's or
the engine's own (name, description) pair.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Condition", "Failure"]


@dataclass(frozen=True, slots=True)
class Condition:
    """An AMQP error condition: a symbolic name and the peer's description of it.

    ``name`` is what the peer (or Proton, for transport and TLS errors) sent,
    e.g. ``amqp:not-found``, ``amqp:unauthorized-access``,
    ``amqp:connection:framing-error`` or ``proton:io``.
    """

    name: str
    description: str | None = None

    def __str__(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name


@dataclass(frozen=True, slots=True)
class Failure:
    """What failed, why, and whether trying again can help.

    ``where`` is the connection (``amqp://host:port``, credentials removed) or
    the link (``amqp://host:port/queue``); ``reason`` says what happened in
    the user's terms, including the condition when there is one;
    ``permanent`` is True when waiting will not help (refused credentials, a
    certificate that fails verification, a TLS file that cannot be loaded, a
    link the peer refused with a lasting condition).
    """

    where: str
    reason: str
    condition: Condition | None = None
    permanent: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


# Conditions that say "this will fail again the same way".
PERMANENT_CONDITIONS = frozenset(
    {
        "amqp:unauthorized-access",
        "amqp:not-found",
        "amqp:not-allowed",
        "amqp:not-implemented",
        "amqp:invalid-field",
        "amqp:decode-error",
        "amqp:precondition-failed",
    }
)


def lasting(condition: Condition | None) -> bool:
    """Whether a peer's condition says the same attempt will fail again."""
    return condition is not None and condition.name in PERMANENT_CONDITIONS

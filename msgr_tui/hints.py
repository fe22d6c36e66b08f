"""What to do about a failure whose cause is a known trap of a broker's addresses.

RabbitMQ 3.10's AMQP 1.0 plugin names its nodes with a leading slash
(``/queue/NAME``, ``/amq/queue/NAME``), which in a URL takes two slashes, and
declares a queue again on every ``/queue/NAME`` link: a link whose durability
differs from an existing queue's fails (``amqp:precondition-failed``, the
"inequivalent arg 'durable'" that reads like a bug). The condition and the
address say which trap it was; the hint says which address to use. No UI
imports: the app and the headless commands both explain.
"""

from __future__ import annotations

from .messenger.address import AddressError, parse_address
from .messenger.failures import Failure


def hint(failure: Failure) -> str | None:
    """Which address to use instead, when ``failure`` is a known address trap."""
    condition = failure.condition
    if condition is None:
        return None
    try:
        address = parse_address(failure.where)
    except AddressError:
        return None
    node = address.name or ""
    base = f"{address.effective_scheme}://{address.host}" + (
        f":{address.port}" if address.port else ""
    )
    name = node.rsplit("/", 1)[-1]
    if condition.name == "amqp:precondition-failed" and node.startswith("/queue/"):
        return (
            f"the queue {name} exists with other arguments (its durability, most often): "
            f"{base}//amq/queue/{name} uses it as it is"
        )
    if condition.name == "amqp:invalid-field" and node.startswith(("amq/", "queue/")):
        return f"the node name starts with a slash, so the address has two: {base}//{node}"
    if condition.name == "amqp:not-found" and node.startswith("/amq/queue/"):
        return (
            f"there is no queue {name}: //amq/queue/ only uses an existing queue; "
            f"{base}//queue/{name} creates it"
        )
    return None


def explained(failure: Failure) -> str:
    """``failure`` as the user reads it, with what to do when it is a known trap."""
    advice = hint(failure)
    return f"{failure} ({advice})" if advice else str(failure)

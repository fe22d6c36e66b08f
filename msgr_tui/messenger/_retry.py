"""Retry mode: bring messages and subscriptions back after a connection fails.

An extension to the original Messenger (off by default). When a connection
the Messenger opened fails for a reason that may pass (refused, reset, the
broker shutting down, an idle timeout), the messages it had not got answers
for, the ones still waiting for credit, and the subscriptions on it wait in a
plan for that address. The plan reconnects after a delay that doubles after
each failed attempt, up to a cap, and puts everything back on new links.
Messages the peer may have received before the failure are sent again, so
delivery is at least once: receivers may see duplicates.

Failures that cannot pass by waiting (refused credentials, an untrusted
certificate, a refused link) are not retried: they surface as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._links import Link
from .address import Address
from .errors import condition_name

if TYPE_CHECKING:
    from .subscription import Subscription

# Conditions that say "this will fail again the same way".
PERMANENT_CONDITIONS = {
    "amqp:unauthorized-access",
    "amqp:not-found",
    "amqp:not-allowed",
    "amqp:not-implemented",
    "amqp:invalid-field",
    "amqp:decode-error",
    "amqp:precondition-failed",
}
PERMANENT_WORDS = ("SSL Failure", "certificate", "Authentication failed", "cannot resolve")


def retryable(error: str | None) -> bool:
    """Whether a connection failure may pass by trying again later."""
    if error is None:
        return True  # the peer went away cleanly with work outstanding
    if condition_name(error) in PERMANENT_CONDITIONS:
        return False
    return not any(word in error for word in PERMANENT_WORDS)


@dataclass
class RetryPlan:
    """What waits for one address to come back, and when to try next."""

    address: Address
    label: str
    attempt: int = 0
    next_at: int = 0
    # Sender links parked here: their queues hold the waiting messages.
    parked: dict[str | None, Link] = field(default_factory=dict)
    subscriptions: list[Subscription] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return sum(len(link.queue) for link in self.parked.values())

    def park(self, name: str | None) -> Link:
        link = self.parked.get(name)
        if link is None:
            link = Link.parked(name)
            self.parked[name] = link
        return link

    @property
    def empty(self) -> bool:
        return not self.subscriptions and not any(link.queue for link in self.parked.values())


class Reconnector:
    """The retry plans of one Messenger, keyed by connection key."""

    def __init__(self, initial_delay: float = 0.1, max_delay: float = 10.0) -> None:
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.plans: dict[tuple[object, ...], RetryPlan] = {}

    def plan_for(self, key: tuple[object, ...], address: Address, label: str) -> RetryPlan:
        plan = self.plans.get(key)
        if plan is None:
            plan = RetryPlan(address, label)
            self.plans[key] = plan
        return plan

    def waiting_plan(self, key: tuple[object, ...], now: int) -> RetryPlan | None:
        """The plan for ``key`` if it is waiting to reconnect (not yet due)."""
        plan = self.plans.get(key)
        if plan is not None and plan.next_at > now:
            return plan
        return None

    def schedule(self, plan: RetryPlan, now: int) -> float:
        """Set the next attempt; returns the delay in seconds."""
        delay = min(self.max_delay, self.initial_delay * (2**plan.attempt))
        plan.attempt += 1
        plan.next_at = now + int(delay * 1000)
        return delay

    def due(self, now: int) -> list[tuple[tuple[object, ...], RetryPlan]]:
        return [(key, plan) for key, plan in self.plans.items() if 0 < plan.next_at <= now]

    def next_deadline(self) -> int | None:
        deadlines = [plan.next_at for plan in self.plans.values() if plan.next_at > 0]
        return min(deadlines) if deadlines else None

    def connected(self, key: tuple[object, ...]) -> None:
        """The address answered: the next failure starts from the shortest delay."""
        plan = self.plans.get(key)
        if plan is not None and plan.empty and plan.next_at == 0:
            del self.plans[key]

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
certificate, a refused link: :attr:`Failure.permanent`) are not retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._engine import Conn, Driver, now_ms
from ._links import Link
from ._options import Options
from ._outgoing import OutgoingQueue
from ._reports import Reports
from ._router import Router
from ._subscriptions import Subscriptions
from .address import Address
from .errors import MessengerException
from .events import RetryScheduled
from .subscription import Subscription, SubscriptionState
from .views import RetryView

if TYPE_CHECKING:
    from ._lifecycle import Lifecycle

ConnectionKey = tuple[object, ...]


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


class Retrier:
    """The retry plans of one Messenger, keyed by connection key, and their execution."""

    def __init__(
        self,
        options: Options,
        lifecycle: Lifecycle,
        driver: Driver,
        router: Router,
        outgoing: OutgoingQueue,
        subscriptions: Subscriptions,
        reports: Reports,
    ) -> None:
        self.options = options
        self.lifecycle = lifecycle
        self.driver = driver
        self.router = router
        self.outgoing = outgoing
        self.subscriptions = subscriptions
        self.reports = reports
        self.initial_delay = 0.1
        self.max_delay = 10.0
        self.plans: dict[ConnectionKey, RetryPlan] = {}

    # ------------------------------------------------------------- queries

    def subscriptions_waiting(self) -> bool:
        """Whether a subscription waits for its connection to be made again."""
        return any(plan.subscriptions for plan in self.plans.values())

    def waiting_plan(self, key: ConnectionKey, now: int) -> RetryPlan | None:
        """The plan for ``key`` if it is waiting to reconnect (not yet due)."""
        plan = self.plans.get(key)
        if plan is not None and plan.next_at > now:
            return plan
        return None

    def retrying(self, conn: Conn) -> bool:
        """Whether what ``conn`` leaves behind waits for a reconnection."""
        return (
            self.options.retry
            and conn.outbound
            and conn.closed
            and conn.address is not None
            and not self.lifecycle.stopping
            and not (conn.failure is not None and conn.failure.permanent)
        )

    def views(self) -> tuple[RetryView, ...]:
        now = now_ms()
        return tuple(
            RetryView(
                plan.label,
                plan.attempt,
                plan.waiting,
                len(plan.subscriptions),
                max(0.0, (plan.next_at - now) / 1000.0) if plan.next_at else None,
            )
            for plan in self.plans.values()
        )

    def next_deadline(self) -> int | None:
        deadlines = [plan.next_at for plan in self.plans.values() if plan.next_at > 0]
        return min(deadlines) if deadlines else None

    # ----------------------------------------------------- a link goes down

    def _plan_for(self, conn: Conn) -> RetryPlan:
        assert conn.key is not None and conn.address is not None
        plan = self.plans.get(conn.key)
        if plan is None:
            plan = RetryPlan(conn.address, conn.label)
            self.plans[conn.key] = plan
        return plan

    def plan_after(self, conn: Conn) -> RetryPlan:
        """The plan for a connection that failed before it started, scheduled."""
        plan = self._plan_for(conn)
        if plan.next_at == 0:
            self._schedule(plan, conn.failure.reason if conn.failure is not None else None)
        return plan

    def park_link(self, conn: Conn, link: Link) -> None:
        """A sender link of ``conn`` closed: its unanswered messages wait in the plan."""
        parked = self._plan_for(conn).park(link.address)
        entries = self.outgoing.take_for_retry(link)
        for entry in entries:
            entry.link = parked
        merged = sorted([*parked.queue, *entries], key=lambda entry: entry.tracker)
        parked.queue.clear()
        parked.queue.extend(merged)

    def park_subscription(self, conn: Conn, subscription: Subscription) -> None:
        """A subscription's link closed with ``conn``: it is made again on reconnection."""
        self._plan_for(conn).subscriptions.append(subscription)
        self.subscriptions.detach(subscription)
        subscription.state = SubscriptionState.RETRYING

    # ------------------------------------------------------ a connection ends

    def connected(self, conn: Conn) -> None:
        """The address answered: the next failure starts from the shortest delay."""
        plan = self.plans.get(conn.key)
        if plan is not None and plan.empty and plan.next_at == 0:
            del self.plans[conn.key]

    def connection_closed(self, conn: Conn) -> None:
        """Schedule the plan ``conn`` left behind (or drop it when nothing waits)."""
        plan = self.plans.get(conn.key)
        if plan is None:
            return
        if plan.empty:
            del self.plans[conn.key]
        elif plan.next_at == 0:
            reason = conn.failure.reason if conn.failure is not None else None
            self._schedule(plan, reason)

    def _schedule(self, plan: RetryPlan, reason: str | None) -> None:
        delay = min(self.max_delay, self.initial_delay * (2**plan.attempt))
        plan.attempt += 1
        plan.next_at = now_ms() + int(delay * 1000)
        self.reports.event(
            RetryScheduled(
                plan.label, plan.attempt, delay, plan.waiting, len(plan.subscriptions), reason
            )
        )

    # ----------------------------------------------------------- reconnect

    def reconnect_due(self) -> None:
        """Reconnect every plan whose time has come; put its messages and links back."""
        if not self.plans:
            return
        now = now_ms()
        for plan in [plan for plan in self.plans.values() if 0 < plan.next_at <= now]:
            plan.next_at = 0
            try:
                conn = self.router.connection_for(plan.address)
            except MessengerException as error:
                if plan.next_at == 0:
                    self._schedule(plan, str(error))
                continue
            if conn.closed:
                # Failed at once; closing it has scheduled the next attempt.
                if plan.next_at == 0:
                    self._schedule(plan, conn.failure.reason if conn.failure else None)
                continue
            for name, parked in list(plan.parked.items()):
                if not parked.queue:
                    continue
                link = self.router.sender_link(conn, name)
                for entry in parked.queue:
                    entry.link = link
                link.queue.extend(parked.queue)
                parked.queue.clear()
                self.outgoing.pump(link)
            plan.parked.clear()
            subscriptions, plan.subscriptions = plan.subscriptions, []
            for subscription in subscriptions:
                if self.subscriptions.is_current(subscription):
                    self.subscriptions.attach(subscription, conn)
            self.driver.flush(conn)

    def abandon(self) -> None:
        """The Messenger stops: what waits is given up (messages ABORTED)."""
        for plan in self.plans.values():
            for parked in plan.parked.values():
                self.outgoing.abort_queue(parked, None)
            for subscription in plan.subscriptions:
                subscription.state = SubscriptionState.CLOSED
        self.plans.clear()

"""Waiting: the loop inside every blocking call, and the work after each round of I/O."""

from __future__ import annotations

from collections.abc import Callable

from ._credit import CreditScheduler
from ._engine import Driver, now_ms
from ._incoming import IncomingQueue
from ._lifecycle import Lifecycle
from ._links import Link
from ._options import Options
from ._outgoing import OutgoingQueue
from ._reports import Reports
from ._retry import Retrier
from .errors import Interrupt, Timeout

# Bytes of messages a burst of puts may leave in the transport before put writes.
_PUT_FLUSH_BYTES = 64 * 1024


class Pump:
    """Runs rounds of I/O until a condition holds, a deadline passes or someone interrupts."""

    def __init__(
        self,
        options: Options,
        driver: Driver,
        outgoing: OutgoingQueue,
        credit: CreditScheduler,
        incoming: IncomingQueue,
        retrier: Retrier,
        lifecycle: Lifecycle,
        reports: Reports,
    ) -> None:
        self.options = options
        self.driver = driver
        self.outgoing = outgoing
        self.credit = credit
        self.incoming = incoming
        self.retrier = retrier
        self.lifecycle = lifecycle
        self.reports = reports
        self.interrupted = False

    def until(
        self, done: Callable[[], bool], timeout: float | None, *, interruptible: bool = True
    ) -> None:
        """Pump until ``done()``; Timeout after ``timeout`` seconds (None: never)."""
        deadline = None if timeout is None else now_ms() + int(timeout * 1000)
        driver = self.driver
        # One non-waiting round of real I/O first: send(0) and non-blocking
        # calls must read the peer's answers (open, credit, dispositions) too.
        self.after_io(driver.exchange(0))
        while True:
            self.reports.raise_pending()
            if done():
                return
            if not self.options.blocking:
                return
            if interruptible:
                self.check_interrupt()
            wait: float | None = None
            if deadline is not None:
                remaining = deadline - now_ms()
                if remaining <= 0:
                    raise Timeout("timed out")
                wait = remaining / 1000.0
            self.after_io(driver.exchange(self.until_timer(wait)))

    def once(self, timeout: float | None) -> bool:
        """One round of I/O, waiting up to ``timeout`` (shortened to the next timer)."""
        return self.after_io(self.driver.exchange(self.until_timer(timeout)))

    def send_soon(self, link: Link, size: int) -> None:
        """After a put: hand the message to its link, and write when it is time.

        Like Nagle's algorithm: the first put since the last round of I/O,
        with nothing unanswered on its link, is written out at once; later
        puts of a burst collect and go out in one write per
        ``_PUT_FLUSH_BYTES``, or at the next send/recv/work, handed to their
        links together just before (one loop for the burst, not a call per
        message). One socket write
        per message cost the sender a quarter of its time and the receiver a
        read per few messages.
        """
        driver = self.driver
        if driver.dirty:
            # Dispositions made by get/accept/settle since the last call go out now.
            driver.flush_dirty()
        conn = link.conn
        if conn is None:
            return  # parked (waits for a reconnection) or never made (aborted)
        idle = not link.unanswered and not conn.put_since_io
        conn.put_since_io = True
        conn.unflushed += size
        # Handed to the link with the others of the burst, before the next write.
        self.outgoing.unsent[link] = None
        if idle or conn.unflushed >= _PUT_FLUSH_BYTES:
            self.outgoing.hand_over()
            driver.flush(conn)

    def after_io(self, worked: bool) -> bool:
        """After reading: new credit, reconnections, the stop's progress, then one write."""
        self.outgoing.hand_over()
        self.credit.flow(now_ms(), len(self.incoming))
        self.retrier.reconnect_due()
        self.lifecycle.advance()
        return self.driver.finish_round(worked)

    def until_timer(self, wait: float | None) -> float | None:
        """``wait`` shortened to the next drain or reconnection, whichever is first."""
        deadlines = [self.credit.next_drain] if self.credit.next_drain else []
        retry_at = self.retrier.next_deadline()
        if retry_at is not None:
            deadlines.append(retry_at)
        if not deadlines:
            return wait
        until = max(0.0, (min(deadlines) - now_ms()) / 1000.0)
        return until if wait is None else min(wait, until)

    def interrupt(self) -> None:
        self.interrupted = True
        self.driver.wake()

    def check_interrupt(self) -> None:
        if self.interrupted:
            self.interrupted = False
            raise Interrupt("interrupted")

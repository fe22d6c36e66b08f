"""The console against RabbitMQ 3.10: what the broker counts after the user acted."""

from __future__ import annotations

import uuid

import pytest

from msgr_tui.messenger import ACCEPTED, PENDING, Message, Messenger
from msgr_tui.ui.screens.confirm import ConfirmScreen
from tests.command_line import msgr_tui
from tests.conftest import RabbitMQ
from tests.helpers import DEADLINE
from tests.messagefile.test_commands import drain, fill, queue_depth
from tests.ui.story import Notifications, app_with, main, quit_app, until
from tests.ui.test_console import answer_where_to


@pytest.mark.rabbitmq
async def test_mark_three_of_five_move_them_and_the_broker_counts_two_and_three(
    rabbitmq: RabbitMQ,
) -> None:
    source, dest = (f"msgr-tui-console-{name}-{uuid.uuid4().hex}" for name in ("a", "b"))
    fill(rabbitmq, source, 5)
    # No credentials: RabbitMQ maps ANONYMOUS to guest on loopback.
    broker = f"amqp://{rabbitmq.host}:{rabbitmq.port}"
    app = app_with(subscribe=(f"{broker}/{source}",))
    async with app.run_test(size=(80, 24)) as pilot:
        incoming = main(app).incoming
        await until(pilot, lambda: len(incoming.rows) == 5, "the five messages")
        await pilot.press("3", "home", "space", "down", "space", "down", "space", "m")
        await answer_where_to(pilot, app, f"{broker}/{dest}")
        await until(
            pilot,
            lambda: [row.state for row in incoming.rows].count(ACCEPTED) == 3,
            "the three originals accepted",
        )
        # Space marks and moves down: the first, third and fifth were marked.
        assert [row.state for row in incoming.rows] == [ACCEPTED, PENDING] * 2 + [ACCEPTED]
        # Counted by the broker: the two left (held undecided by the app) and the three moved.
        await until(pilot, lambda: (queue_depth(source), queue_depth(dest)) == (2, 3), "2 and 3")
        await quit_app(pilot, app)  # the two undecided go back to the queue
    assert sorted(drain(rabbitmq, dest)) == [0, 2, 4]
    assert sorted(drain(rabbitmq, source)) == [1, 3]


def durable_queue(rabbitmq: RabbitMQ) -> str:
    """A durable queue that exists, as an application declared it (one message in it)."""
    name = f"msgr-tui-durable-{uuid.uuid4().hex}"
    sender = Messenger("declarer")
    sender.durable_targets = True  # the target asks for durability: the queue is durable
    sender.outgoing_window = 1
    sender.timeout = DEADLINE
    sender.start()
    sender.put(Message(address=f"amqp://{rabbitmq.host}:{rabbitmq.port}//queue/{name}", body="x"))
    sender.send()
    sender.stop()
    return name


@pytest.mark.rabbitmq
async def test_the_inequivalent_durable_trap_is_explained_with_the_address_to_use(
    rabbitmq: RabbitMQ,
) -> None:
    name = durable_queue(rabbitmq)
    broker = f"amqp://{rabbitmq.host}:{rabbitmq.port}"
    notes = Notifications()
    app = app_with(subscribe=(f"{broker}//queue/{name}",))
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        await until(pilot, lambda: notes.saying("inequivalent"), "the refusal")
        (said,) = notes.saying("inequivalent")
        assert f"{broker}//amq/queue/{name} uses it as it is" in said
        await quit_app(pilot, app)
    # The address it names works, and so would recv there.
    result = msgr_tui("recv", f"{broker}//amq/queue/{name}", "--count", "1", "--timeout", "10")
    assert result.returncode == 0 and "x" in result.stdout, result.stderr
    # One slash: RabbitMQ answers unknown_destination; the command says to use two.
    result = msgr_tui("recv", f"{broker}/amq/queue/{name}", "--count", "1", "--timeout", "10")
    assert result.returncode != 0
    assert f"the address has two: {broker}//amq/queue/{name}" in result.stderr
    # A queue that does not exist behind //amq/queue/: the address that creates it.
    result = msgr_tui("recv", f"{broker}//amq/queue/{name}-none", "--count", "1")
    assert f"{broker}//queue/{name}-none creates it" in result.stderr


@pytest.mark.rabbitmq
async def test_purge_asks_naming_the_source_then_empties_it_and_says_how_many(
    rabbitmq: RabbitMQ,
) -> None:
    queue = f"msgr-tui-purge-{uuid.uuid4().hex}"
    fill(rabbitmq, queue, 7)
    source = f"amqp://{rabbitmq.host}:{rabbitmq.port}/{queue}"
    notes = Notifications()
    app = app_with(subscribe=(source,))
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        incoming = main(app).incoming
        await until(pilot, lambda: len(incoming.rows) == 7, "the seven, pending")
        rows = main(app).subscriptions.rows
        await pilot.press("1", "end")
        await until(pilot, lambda: main(app).subscriptions.table.current is rows[-1], "the row")
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert f"Purge {source}?" in str(app.screen.question)  # type: ignore[attr-defined]
        await pilot.press("y")
        await until(pilot, lambda: notes.saying("purged, 7 messages received and accepted"), "done")
        assert [row.state for row in incoming.rows] == [ACCEPTED] * 7
        assert queue_depth(queue) == 0  # counted by the broker
        await quit_app(pilot, app)

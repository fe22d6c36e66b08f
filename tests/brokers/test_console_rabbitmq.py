"""The console against RabbitMQ 3.10: what the broker counts after the user acted."""

from __future__ import annotations

import uuid

import pytest

from msgr_tui.messenger import ACCEPTED, PENDING
from msgr_tui.ui.screens.ask import AskScreen
from tests.conftest import RabbitMQ
from tests.messagefile.test_commands import drain, fill, queue_depth
from tests.ui.story import app_with, main, quit_app, type_text, until


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
        await until(pilot, lambda: isinstance(app.screen, AskScreen), "where to")
        await type_text(pilot, f"{broker}/{dest}")
        await pilot.press("enter")
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

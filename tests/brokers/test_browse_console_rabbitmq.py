"""Browsing a RabbitMQ queue from the console: look, and the broker keeps every message."""

from __future__ import annotations

import uuid

import pytest

from msgr_tui.messenger import BrowseMode
from tests.conftest import RabbitMQ
from tests.messagefile.test_commands import drain, fill, queue_depth
from tests.ui.story import Notifications, app_with, main, quit_app, screen_text, until


@pytest.mark.rabbitmq
async def test_browsing_a_queue_shows_its_messages_and_the_broker_still_counts_them_all(
    rabbitmq: RabbitMQ,
) -> None:
    queue = f"msgr-tui-browse-{uuid.uuid4().hex}"
    fill(rabbitmq, queue, 5)
    source = f"amqp://{rabbitmq.host}:{rabbitmq.port}/{queue}"
    notes = Notifications()
    app = app_with(browse=(source,), selectors=((source, "color = 'red'"),))
    async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
        incoming = main(app).incoming
        await until(pilot, lambda: len(incoming.rows) == 5, "the five messages, shown")
        (row,) = [row for row in main(app).subscriptions.rows if row.source == source]
        await until(pilot, lambda: row.browse_mode is BrowseMode.PEEK, "peeking")
        # Which of the two happened, and that the selector is not a filtered view, said.
        await until(pilot, lambda: notes.saying("peeking (RabbitMQ only echoes copy)"), "said")
        assert notes.saying("RabbitMQ echoes the selector but filters nothing")
        assert "peek !" in screen_text(app)
        assert all(row.arrival.browsed for row in incoming.rows)
        assert incoming.pending == 0 and "browsed" in screen_text(app)
        # Browsed rows cannot be accepted by mistake.
        await pilot.press("3", "home", "a")
        await until(pilot, lambda: notes.saying("was browsed: never accepted"), "refused")
        await pilot.press("asterisk", "r")
        await until(pilot, lambda: notes.saying("were browsed"), "refused, all of them")
        # Counted by the broker, not by us: nothing was taken away.
        assert queue_depth(queue) == 5
        await quit_app(pilot, app)  # nothing at stake: browsed rows are given back
    assert queue_depth(queue) == 5
    assert sorted(drain(rabbitmq, queue)) == [0, 1, 2, 3, 4]

"""The next start offers what an earlier session left: send it again, look at it, or keep it.

A recovery file (as a quit, a signal or a crash writes it) is found at start;
the dialog says how many messages it holds. Sent again, each message goes to
its own address, byte for byte, and the file goes once all are answered.
"""

from __future__ import annotations

from pathlib import Path

from msgr_tui.locations import recovery_dir, recovery_files
from msgr_tui.messagefile import MessageRecord, save_messages
from msgr_tui.messagefile.sections import Body, BodyKind
from msgr_tui.ui.screens.recovered import RecoveryScreen
from tests.helpers import ThreadedPeer
from tests.ui.story import Notifications, app_with, listening, main, screen_text, until


def leave_recovery_file(address: str, subjects: list[str]) -> Path:
    """What an earlier session left: messages to ``address``, with their own properties."""
    recovery_dir().mkdir(parents=True)
    path = recovery_dir() / "unanswered-earlier.jsonl"
    save_messages(
        path,
        [
            (
                MessageRecord(
                    header={"durable": True},
                    properties={"to": address, "subject": subject},
                    application_properties={"order": number},
                    body=Body(BodyKind.VALUE, (f"body {number}",)),
                ),
                {"unsent": "unknown"},
            )
            for number, subject in enumerate(subjects)
        ],
    )
    return path


async def test_the_next_start_offers_the_file_and_sending_delivers_it_then_removes_it() -> None:
    with ThreadedPeer("broker") as peer:
        path = leave_recovery_file(f"{peer.address}/orders", ["first", "second"])
        app = app_with()
        notes = Notifications()
        async with app.run_test(size=(80, 24), message_hook=notes.hook) as pilot:
            await listening(pilot, app)
            await until(pilot, lambda: isinstance(app.screen, RecoveryScreen), "the offer")
            shown = screen_text(app)
            assert "2 outgoing messages were not answered" in shown
            assert "unanswered-earlier.jsonl  2 messages" in shown
            await pilot.press("s")
            await until(pilot, lambda: len(peer.received) == 2, "both delivered")
            await until(pilot, lambda: not path.exists(), "the file removed once answered")
            await until(pilot, lambda: notes.saying("all accepted"), "the notice")
            assert [row.subject for row in main(app).outgoing.rows] == ["first", "second"]
    received = peer.received
    assert [message.subject for message in received] == ["first", "second"]
    assert [message.properties for message in received] == [{"order": 0}, {"order": 1}]
    assert received[0].durable is True
    assert recovery_files() == []


async def test_keep_leaves_the_file_and_the_app_sends_nothing() -> None:
    with ThreadedPeer("broker") as peer:
        path = leave_recovery_file(f"{peer.address}/q", ["m"])
        app = app_with()
        async with app.run_test(size=(80, 24)) as pilot:
            await listening(pilot, app)
            await until(pilot, lambda: isinstance(app.screen, RecoveryScreen), "the offer")
            await pilot.press("k")
            await until(pilot, lambda: not isinstance(app.screen, RecoveryScreen), "gone")
            assert main(app).outgoing.rows == []
            await pilot.press("ctrl+q")
            await until(pilot, lambda: app.return_code is not None, "the app to end")
        assert peer.received == []
    assert path.exists()


async def test_open_holds_them_in_outgoing_and_r_sends_them() -> None:
    with ThreadedPeer("broker") as peer:
        path = leave_recovery_file(f"{peer.address}/q", ["held one", "held two"])
        app = app_with()
        async with app.run_test(size=(80, 24)) as pilot:
            await listening(pilot, app)
            await until(pilot, lambda: isinstance(app.screen, RecoveryScreen), "the offer")
            await pilot.press("o")
            outgoing = main(app).outgoing
            await until(pilot, lambda: len(outgoing.rows) == 2, "two held rows")
            assert "HELD" in screen_text(app) and "2 held" in (outgoing.border_subtitle or "")
            assert peer.received == []  # held: nothing sent until asked
            await pilot.press("r")
            await until(pilot, lambda: len(peer.received) == 2, "both delivered")
            await until(pilot, lambda: not path.exists(), "the file removed once answered")
            assert all(row.held_from is None for row in outgoing.rows)
    assert [message.subject for message in peer.received] == ["held one", "held two"]


async def test_quitting_before_the_answers_keeps_them_in_a_new_file_and_drops_the_old() -> None:
    from tests.helpers import closed_port

    path = leave_recovery_file(f"amqp://127.0.0.1:{closed_port()}/q", ["again"])
    app = app_with()
    async with app.run_test(size=(80, 24)) as pilot:
        await listening(pilot, app)
        await until(pilot, lambda: isinstance(app.screen, RecoveryScreen), "the offer")
        await pilot.press("s")
        await until(pilot, lambda: main(app).at_stake.outgoing == 1, "put, unanswered")
        await pilot.press("ctrl+q", "s", "enter")  # save to the offered recovery file
        await until(pilot, lambda: app.return_code is not None, "the app to end")
    app.closing_notes(5)
    (newer,) = recovery_files()
    assert newer != path and not path.exists()
    assert '"subject":"again"' in newer.read_text(encoding="utf-8").replace(" ", "")

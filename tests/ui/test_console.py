"""The operator's console: mark many and act once, move and copy without losing one,
edit and resend, reply, search, save, and the clipboard over SSH."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from proton import Message as ProtonMessage
from proton import symbol
from textual.binding import Binding
from textual.pilot import Pilot

from msgr_tui.messagefile import MessageRecord, read_messages, save_messages
from msgr_tui.messagefile.sections import Body, BodyKind
from msgr_tui.messenger import ACCEPTED, MODIFIED, PENDING, REJECTED, Messenger
from msgr_tui.messenger.snapshot import MessageSnapshot
from msgr_tui.ui.app import MsgrTuiApp
from msgr_tui.ui.screens.ask import AskScreen
from msgr_tui.ui.screens.confirm import ConfirmScreen
from msgr_tui.ui.screens.main import PALETTE_LEAVES_OUT
from msgr_tui.ui.widgets.incoming import IncomingPane
from tests.helpers import ThreadedPeer
from tests.ui.story import (
    Notifications,
    SendingPeer,
    app_with,
    listening,
    main,
    quit_app,
    screen_text,
    type_text,
    until,
)
from tests.ui.test_tui import run_command

SIZE = (80, 24)


def snapshots_of(peer: ThreadedPeer) -> list[MessageSnapshot]:
    """Every section of what ``peer`` received (its handler records them)."""
    return peer.snapshots  # type: ignore[attr-defined,no-any-return]


def recording_peer(name: str, *, reject: bool = False) -> ThreadedPeer:
    """A peer that keeps every message whole, and accepts (or rejects) each."""
    kept: list[MessageSnapshot] = []

    def decide(messenger: Messenger, message: ProtonMessage, tracker: int) -> None:
        kept.append(MessageSnapshot.of(message))
        (messenger.reject if reject else messenger.accept)(tracker)

    peer = ThreadedPeer(name, handler=decide, incoming_window=100)
    peer.snapshots = kept  # type: ignore[attr-defined]
    return peer


async def five_from_a_peer(pilot: Pilot, app: MsgrTuiApp, sender: SendingPeer) -> None:
    """Five orders arrive from another program, with properties and annotations."""
    address = await listening(pilot, app)
    for number in range(1, 6):
        message = ProtonMessage(address=f"{address}/orders", subject=f"order {number}")
        message.body = json.dumps({"order": number})
        message.properties = {"tenant": "acme", "n": number, "raw": b"\x00\x01"}
        message.annotations = {symbol("x-opt-origin"): "eu-west"}
        sender.send(message)
    incoming = main(app).incoming
    await until(pilot, lambda: len(incoming.rows) == 5, "the five orders")
    await pilot.press("3", "home")


async def answer_where_to(
    pilot: Pilot, app: MsgrTuiApp, address: str, asked: str | None = None
) -> None:
    """The destination dialog comes (asking ``asked``, if given); type ``address``, enter."""
    await until(pilot, lambda: isinstance(app.screen, AskScreen), "where to")
    if asked is not None:
        assert asked in screen_text(app)
    await type_text(pilot, address)
    await pilot.press("enter")


def states(app: MsgrTuiApp) -> list[object]:
    return [row.state for row in main(app).incoming.rows]


async def test_space_marks_rows_and_one_key_decides_them_all_after_asking() -> None:
    app = app_with()
    with SendingPeer("shop") as sender:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            # Mark 1, 3 and 5 (space marks and moves down).
            await pilot.press("space", "down", "space", "down", "space")
            incoming = main(app).incoming
            assert incoming.marked == 3 and "3 marked" in (incoming.border_subtitle or "")
            assert "*1" in screen_text(app) and "*3" in screen_text(app)
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            assert "Accept 3 messages?" in screen_text(app)
            await pilot.press("y")
            await until(pilot, lambda: states(app).count(ACCEPTED) == 3, "three accepted")
            assert states(app) == [ACCEPTED, PENDING, ACCEPTED, PENDING, ACCEPTED]
            assert incoming.marked == 0  # acted on: the marks go
            await quit_app(pilot, app)


async def test_n_at_the_question_decides_nothing() -> None:
    app = app_with()
    with SendingPeer("shop") as sender:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("asterisk", "r")  # every row shown, then reject
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            assert "Reject 5 messages?" in screen_text(app)
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "no")
            assert states(app) == [PENDING] * 5 and main(app).incoming.marked == 5
            await pilot.press("asterisk")  # all marked already: unmarks them
            assert main(app).incoming.marked == 0
            await quit_app(pilot, app)


async def test_star_marks_only_what_the_filter_shows() -> None:
    app = app_with()
    with SendingPeer("shop") as sender:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("slash")
            await type_text(pilot, 're:"order": [24]')
            await pilot.press("enter", "asterisk")
            incoming = main(app).incoming
            assert [row.marked for row in incoming.rows] == [False, True, False, True, False]
            await quit_app(pilot, app)


async def test_move_three_of_five_accepts_each_original_after_its_copy() -> None:
    app = app_with()
    with SendingPeer("shop") as sender, recording_peer("archive") as archive:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("space", "down", "space", "down", "space", "m")
            await answer_where_to(
                pilot, app, f"{archive.address}/archive", asked="Move 3 messages to which address?"
            )
            await until(pilot, lambda: states(app).count(ACCEPTED) == 3, "the originals accepted")
            assert states(app) == [ACCEPTED, PENDING, ACCEPTED, PENDING, ACCEPTED]
            copies = snapshots_of(archive)
            assert [copy.subject for copy in copies] == ["order 1", "order 3", "order 5"]
            # Every section went over: properties with their types, annotations, body.
            assert copies[0].properties == {"tenant": "acme", "n": 1, "raw": b"\x00\x01"}
            assert copies[0].annotations == {symbol("x-opt-origin"): "eu-west"}
            assert copies[0].address == f"{archive.address}/archive"
            # Each copy's tracker in Outgoing, answered.
            outgoing = main(app).outgoing
            await until(pilot, lambda: len(outgoing.rows) == 3, "three trackers")
            await until(
                pilot, lambda: all(row.status is ACCEPTED for row in outgoing.rows), "answered"
            )
            await quit_app(pilot, app)


async def test_a_destination_that_rejects_leaves_the_originals_pending() -> None:
    app = app_with()
    notes = Notifications()
    with SendingPeer("shop") as sender, recording_peer("full", reject=True) as full:
        async with app.run_test(size=SIZE, message_hook=notes.hook) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("space", "space", "m")
            await answer_where_to(pilot, app, f"{full.address}/full")
            outgoing = main(app).outgoing
            await until(
                pilot,
                lambda: (
                    len(outgoing.rows) == 2 and all(row.status is REJECTED for row in outgoing.rows)
                ),
                "both copies rejected",
            )
            await until(pilot, lambda: len(notes.saying("its original stays pending")) == 2, "said")
            assert states(app) == [PENDING] * 5
            assert len(snapshots_of(full)) == 2
            await quit_app(pilot, app)


async def test_copy_sends_copies_and_leaves_the_originals_undecided() -> None:
    app = app_with()
    with SendingPeer("shop") as sender, recording_peer("mirror") as mirror:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("c")
            await answer_where_to(pilot, app, f"{mirror.address}/mirror")
            await until(pilot, lambda: len(snapshots_of(mirror)) == 1, "the copy")
            outgoing = main(app).outgoing
            await until(pilot, lambda: outgoing.rows and outgoing.rows[0].status is ACCEPTED, "ok")
            assert states(app) == [PENDING] * 5
            await quit_app(pilot, app)


async def test_edit_and_resend_keeps_the_properties_and_annotations_the_form_cannot_show() -> None:
    app = app_with()
    with SendingPeer("shop") as sender, recording_peer("billing") as billing:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("e")
            compose = main(app).compose_pane
            subject = compose.query_one("#subject")
            await until(pilot, lambda: subject.has_focus, "Compose, at the subject")
            assert compose.query_one("#properties").text == "tenant=acme\nn=1"
            kept = str(compose.query_one("#compose-kept").content)
            assert kept == "from #1; keeps 1 annotation, 1 typed property"
            subject.value = "order 1 (fixed)"
            compose.query_one("#address").value = f"{billing.address}/billing"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(snapshots_of(billing)) == 1, "the edited message")
            (sent,) = snapshots_of(billing)
            assert sent.subject == "order 1 (fixed)"
            assert sent.body == '{"order": 1}'
            assert sent.properties == {"tenant": "acme", "n": 1, "raw": b"\x00\x01"}
            assert sent.annotations == {symbol("x-opt-origin"): "eu-west"}
            assert states(app)[0] is PENDING  # the original is left to decide
            await quit_app(pilot, app)


async def test_reply_reaches_the_requester_over_its_own_connection() -> None:
    app = app_with()
    requester = Messenger("requester")
    requester.timeout = 10
    requester.start()
    try:
        async with app.run_test(size=SIZE) as pilot:
            address = await listening(pilot, app)
            request = ProtonMessage(address=f"{address}/service", subject="price?", body="42")
            request.reply_to = "~/replies"  # the requester itself, by its container-id
            request.id = 7031
            requester.put(request)
            requester.send()
            incoming = main(app).incoming
            await until(pilot, lambda: len(incoming.rows) == 1, "the request")
            assert incoming.rows[0].arrival.message.reply_to == "amqp://requester/replies"
            await pilot.press("3", "R")
            compose = main(app).compose_pane
            await until(pilot, lambda: compose.query_one("#body").has_focus, "Compose, body")
            assert compose.query_one("#address").value == "amqp://requester/replies"
            assert compose.query_one("#correlation-id").value == "7031"
            await type_text(pilot, "99.50")
            await pilot.press("ctrl+s")
            reply = ProtonMessage()

            def replied() -> bool:
                requester.recv(1)
                return requester.incoming > 0

            await until(pilot, replied, "the reply at the requester")
            requester.get(reply)
            assert reply.body == "99.50" and reply.correlation_id == 7031  # typed, as sent
            await quit_app(pilot, app)
    finally:
        requester.stop()


async def test_search_counts_matches_and_keeps_matching_new_arrivals() -> None:
    app = app_with()
    with SendingPeer("shop") as sender:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            incoming = main(app).incoming
            await pilot.press("slash")
            await type_text(pilot, "eu-west")  # an annotation's value
            await pilot.press("enter")
            assert incoming.border_subtitle.startswith("5/5 messages")
            await pilot.press("slash", *["backspace"] * 7)
            await type_text(pilot, "re:order [13]$")
            await pilot.press("enter")
            assert incoming.border_subtitle.startswith("2/5 messages")
            late = ProtonMessage(address=incoming.rows[0].arrival.message.address)
            late.subject = "order 11"  # no match: "order 1" then "1" then the end
            sender.send(late)
            again = ProtonMessage(address=late.address, subject="order 3")
            sender.send(again)
            await until(pilot, lambda: len(incoming.rows) == 7, "two more")
            await until(pilot, lambda: incoming.border_subtitle.startswith("3/7"), "one match more")
            # A pattern that is not whole yet leaves the view as it was, marked invalid.
            await pilot.press("slash")
            field = incoming.query_one("#filter")
            field.value = "re:order (1"
            await pilot.pause()
            assert incoming.query_one("#filter").has_class("-bad-pattern")
            assert incoming.border_subtitle.startswith("3/7")
            await pilot.press("enter")
            await quit_app(pilot, app)


async def test_y_copies_the_body_through_the_terminal_with_osc_52() -> None:
    app = app_with()
    notes = Notifications()
    with SendingPeer("shop") as sender:
        async with app.run_test(size=SIZE, message_hook=notes.hook) as pilot:
            await five_from_a_peer(pilot, app, sender)
            written: list[str] = []
            driver = app._driver
            assert driver is not None
            write = driver.write
            driver.write = lambda data: (written.append(data), write(data))[1]  # type: ignore[method-assign]
            await pilot.press("y")
            body = base64.b64encode(b'{"order": 1}').decode()
            assert f"\x1b]52;c;{body}\a" in written
            assert notes.saying("copied the body of #1 (12 characters)")
            await pilot.press("space", "space", "Y")
            (lines,) = [
                data
                for data in written
                if data.startswith("\x1b]52;c;") and data != f"\x1b]52;c;{body}\a"
            ]
            text = base64.b64decode(lines[len("\x1b]52;c;") : -1]).decode()
            records = [json.loads(line) for line in text.splitlines()]
            assert [record["properties"]["subject"] for record in records] == ["order 1", "order 2"]
            assert notes.saying("copied 2 messages as message-file lines")
            await quit_app(pilot, app)


async def test_s_saves_the_marked_messages_to_a_file_that_keeps_every_section(
    tmp_path: Path,
) -> None:
    app = app_with()
    target = tmp_path / "two-orders.jsonl"
    with SendingPeer("shop") as sender:
        async with app.run_test(size=SIZE) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("down", "space", "space", "s")
            await until(pilot, lambda: isinstance(app.screen, AskScreen), "which file")
            field = app.screen.query_one("#ask-answer")
            field.value = str(target)
            await pilot.press("enter")
            await until(pilot, target.exists, "the file")
            await quit_app(pilot, app)
    saved = [record for _, record in read_messages(target)]
    assert [record.properties["subject"] for record in saved] == ["order 2", "order 3"]
    assert saved[0].application_properties == {"tenant": "acme", "n": 2, "raw": b"\x00\x01"}
    assert saved[0].message_annotations == {symbol("x-opt-origin"): "eu-west"}


async def test_compose_sends_a_message_file_to_a_new_address_at_a_rate(tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    save_messages(
        path,
        [
            (
                MessageRecord(
                    properties={"to": "amqp://elsewhere.invalid/q", "subject": f"m{n}"},
                    application_properties={"n": n},
                    body=Body(BodyKind.VALUE, (f"body {n}",)),
                ),
                {},
            )
            for n in range(3)
        ],
    )
    app = app_with()
    with recording_peer("target") as target:
        async with app.run_test(size=SIZE) as pilot:
            await listening(pilot, app)
            await pilot.press("2", "ctrl+o")
            await until(pilot, lambda: isinstance(app.screen, AskScreen), "which file")
            app.screen.query_one("#ask-answer").value = str(path)
            await pilot.press("enter")
            await until(pilot, lambda: "Send 3 messages" in screen_text(app), "where to")
            app.screen.query_one("#ask-answer").value = f"{target.address}/in 20/s"
            await pilot.press("enter")
            await until(pilot, lambda: len(snapshots_of(target)) == 3, "the three")
            got = snapshots_of(target)
            assert [m.subject for m in got] == ["m0", "m1", "m2"]
            assert all(m.address == f"{target.address}/in" for m in got)
            assert [m.properties for m in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
            outgoing = main(app).outgoing
            await until(pilot, lambda: [r.status for r in outgoing.rows] == [ACCEPTED] * 3, "ok")
            await quit_app(pilot, app)
    assert path.exists()  # the user's file stays


async def test_the_help_lists_every_console_key_by_id_and_the_palette_offers_each() -> None:
    console_ids = [
        binding.id
        for binding in IncomingPane.BINDINGS
        if isinstance(binding, Binding) and binding.id not in PALETTE_LEAVES_OUT
    ]
    assert len(console_ids) >= 15
    app = app_with()
    with SendingPeer("shop") as sender:
        async with app.run_test(size=(120, 40)) as pilot:
            await five_from_a_peer(pilot, app, sender)
            await pilot.press("f1")
            await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "the help")
            help_text = app.screen.markdown  # type: ignore[attr-defined]
            missing = [key_id for key_id in console_ids if f"`{key_id}`" not in help_text]
            assert missing == []
            await pilot.press("escape")
            # From the palette, as from its key: mark the highlighted message.
            await run_command(pilot, app, "Incoming: Mark")
            assert main(app).incoming.marked == 1
            await quit_app(pilot, app)


async def test_f_and_u_settle_as_modified_and_the_sender_hears_the_flags() -> None:
    app = app_with()
    async with app.run_test(size=SIZE) as pilot:
        await listening(pilot, app)
        for subject in ("try again", "not here"):
            await pilot.press("2", "tab")
            await type_text(pilot, subject)
            await pilot.press("ctrl+s", "escape", "escape")
        incoming = main(app).incoming
        await until(pilot, lambda: len(incoming.rows) == 2, "both")
        await pilot.press("3", "home", "f", "down", "u")
        await until(pilot, lambda: states(app) == [MODIFIED, MODIFIED], "both modified")
        outgoing = main(app).outgoing
        await until(
            pilot, lambda: [row.status for row in outgoing.rows] == [MODIFIED] * 2, "answered"
        )
        bridge = main(app).bridge
        assert bridge is not None
        flags = [bridge.messenger.modification(row.tracker) for row in outgoing.rows]
        assert [(f.delivery_failed, f.undeliverable_here) for f in flags] == [
            (True, False),
            (True, True),
        ]
        await quit_app(pilot, app)

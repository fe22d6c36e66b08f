"""Textual messages: how the bridge's events and the panes' requests travel."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..bridge import BridgeEvent, Command


@dataclass
class BridgeBatch(Message):
    """A batch of bridge events, posted from the bridge thread once per frame at most."""

    events: list[BridgeEvent]


@dataclass
class CommandRequested(Message):
    """A pane wants the bridge to do something (accept, put, subscribe...)."""

    command: Command


@dataclass
class SessionEnded(Message):
    """A main screen's Messenger has stopped and every event it sent was handled
    (the screen has told why, if it failed).

    Bubbles from the screen to the app, which exits if it was quitting.
    ``notes`` are what the user must still hear once the screen is gone:
    where the outgoing messages nobody answered went, where a traceback went.
    """

    notes: list[str]
    session: int
    """Which session (the screen's id): its notes are told once."""

"""Qpid Proton's Messenger API, rebuilt on python-qpid-proton's engine.

A program written for the old ``proton.Messenger`` runs unchanged after::

    from msgr_tui.messenger import *

The library imports Proton and the standard library only; it never imports
the terminal UI.
"""

from .errors import Interrupt, MessengerException, Timeout
from .message import Message
from .messenger import Messenger
from .status import ABORTED, ACCEPTED, MODIFIED, PENDING, REJECTED, RELEASED, SETTLED
from .subscription import Subscription

__all__ = [
    "ABORTED",
    "ACCEPTED",
    "MODIFIED",
    "PENDING",
    "REJECTED",
    "RELEASED",
    "SETTLED",
    "Interrupt",
    "Message",
    "Messenger",
    "MessengerException",
    "Subscription",
    "Timeout",
]

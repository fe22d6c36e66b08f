"""Qpid Proton's Messenger API, rebuilt on python-qpid-proton's engine.

A program written for the old ``proton.Messenger`` runs unchanged after::

    from msgr_tui.messenger import *

Extensions such as ``BrowseMode`` and ``Modification`` are importable from
here but kept out of ``import *``, which gives the original's names.

The library imports Proton and the standard library only; it never imports
the terminal UI.
"""

from .errors import Interrupt, MessengerException, Timeout
from .message import Message
from .messenger import Messenger
from .status import ABORTED, ACCEPTED, MODIFIED, PENDING, REJECTED, RELEASED, SETTLED
from .status import Modification as Modification
from .subscription import BrowseMode as BrowseMode
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

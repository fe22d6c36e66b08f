"""The worker bridge: owns a Messenger in one thread, talks to the UI in plain data.

Imports no UI toolkit. The UI submits commands (thread-safe) and receives
batches of events through a callback it provides.
"""

from .commands import Accept, Command, Put, Reject, Release, Settle, Stop, Subscribe, Unsubscribe
from .events import (
    BridgeEvent,
    BridgeStopped,
    ConnectionRetry,
    ConnectionState,
    IncomingStateChanged,
    ListenerBound,
    MessageArrived,
    MessageQueued,
    Notice,
    PutFailed,
    Stats,
    SubscriptionState,
    TrackerStatus,
)
from .snapshot import IncomingMessage
from .worker import MessengerBridge

__all__ = [
    "Accept",
    "BridgeEvent",
    "BridgeStopped",
    "Command",
    "ConnectionRetry",
    "ConnectionState",
    "IncomingMessage",
    "IncomingStateChanged",
    "ListenerBound",
    "MessageArrived",
    "MessageQueued",
    "MessengerBridge",
    "Notice",
    "Put",
    "PutFailed",
    "Reject",
    "Release",
    "Settle",
    "Stats",
    "Stop",
    "Subscribe",
    "SubscriptionState",
    "TrackerStatus",
    "Unsubscribe",
]

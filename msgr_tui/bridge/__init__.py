"""The worker bridge: owns a Messenger in one thread, talks to the UI in plain data.

Imports no UI toolkit. The UI submits commands (thread-safe) and receives
batches of events through a callback it provides.
"""

from .commands import (
    Accept,
    Command,
    Put,
    Reject,
    Release,
    Replay,
    Settle,
    Stop,
    Subscribe,
    Unsubscribe,
)
from .events import (
    AtStake,
    BridgeEvent,
    BridgeState,
    BridgeStopped,
    ConnectionChanged,
    ConnectionPhase,
    IncomingDecided,
    ListenerBound,
    MessageArrived,
    MessageQueued,
    Notice,
    PutFailed,
    ReplayAnswered,
    RetryScheduled,
    Severity,
    Stats,
    SubscriptionChanged,
    TrackerUpdated,
    UnansweredSaved,
)
from .worker import MessengerBridge

__all__ = [
    "Accept",
    "AtStake",
    "BridgeEvent",
    "BridgeState",
    "BridgeStopped",
    "Command",
    "ConnectionChanged",
    "ConnectionPhase",
    "IncomingDecided",
    "ListenerBound",
    "MessageArrived",
    "MessageQueued",
    "MessengerBridge",
    "Notice",
    "Put",
    "PutFailed",
    "Reject",
    "Release",
    "Replay",
    "ReplayAnswered",
    "RetryScheduled",
    "Settle",
    "Severity",
    "Stats",
    "Stop",
    "Subscribe",
    "SubscriptionChanged",
    "TrackerUpdated",
    "UnansweredSaved",
    "Unsubscribe",
]

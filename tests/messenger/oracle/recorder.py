"""Two recording AMQP peers for ``record_routes.py`` (python-qpid-proton 0.40, not a test).

Prints ``{"A": port, "B": port}``, then one JSON line per message received:
which peer, the target of the link it came on, the message's address and body.
Runs until its stdin closes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.peers import PeerBehaviour, RawPeer


class Printing(PeerBehaviour):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def on_delivery(self, event: Any) -> None:
        seen = len(self.deliveries)
        super().on_delivery(event)
        for delivery in self.deliveries[seen:]:
            line = {"peer": self.label, "target": delivery.target, "address": delivery.address}
            print(json.dumps({**line, "body": delivery.body}), flush=True)


def main() -> None:
    with RawPeer(Printing("A")) as a, RawPeer(Printing("B")) as b:
        print(json.dumps({"A": a.port, "B": b.port}), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()

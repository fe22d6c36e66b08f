"""Record what the ORIGINAL Messenger does with routes and rewrites (offline, not a test).

    cd tests/messenger/oracle
    ../../../../shared/oracle/run-original record_routes.py route_cases.json > rows.py

Runs on the original Proton 0.17 Messenger (``from proton import Messenger``
is the C ``pn_messenger`` there). For each case of the JSON file it adds the
case's routes and rewrites to a fresh Messenger, puts one message to the
case's address and sends it; ``recorder.py`` (run with the system's Proton,
in a child process) says which of its two peers got it, on which link target,
with which address. ``{A}``/``{B}`` in a case stand for the peers' ports. The
output is the ``Row(...)`` literals of ``test_rules_oracle.py``; a case that
did not arrive exactly once is printed as a comment, to be looked at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from proton import Message, Messenger  # the original's, under run-original

HERE = Path(__file__).resolve().parent


def main(cases_file: str) -> None:
    cases = json.loads(Path(cases_file).read_text())
    # The recorder runs on the system's Proton, not the original's.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    recorder = subprocess.Popen(
        [sys.executable, str(HERE / "recorder.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert recorder.stdout is not None and recorder.stdin is not None
    ports = json.loads(recorder.stdout.readline())
    seen: dict[str, list[dict[str, Any]]] = {}

    def read() -> None:
        for line in recorder.stdout:
            record = json.loads(line)
            seen.setdefault(record["body"], []).append(record)

    threading.Thread(target=read, daemon=True).start()

    def fill(text: str | None) -> str | None:
        return (
            None
            if text is None
            else text.replace("{A}", str(ports["A"])).replace("{B}", str(ports["B"]))
        )

    def unfill(text: str | None) -> str | None:
        return (
            None
            if text is None
            else text.replace(str(ports["A"]), "{A}").replace(str(ports["B"]), "{B}")
        )

    for index, case in enumerate(cases):
        messenger = Messenger("oracle-sender")
        messenger.timeout = 3
        messenger.outgoing_window = 10
        for pattern, address in case.get("routes", []):
            messenger.route(fill(pattern), fill(address))
        for pattern, address in case.get("rewrites", []):
            messenger.rewrite(fill(pattern), fill(address))
        messenger.start()
        body = f"case-{index}"
        message = Message()
        message.address = fill(case["address"])
        message.body = body
        status = None
        try:
            tracker = messenger.put(message)
            messenger.send()
            status = str(messenger.status(tracker))
        except Exception as error:
            status = f"{type(error).__name__}: {error}"
        messenger.stop()
        deadline = time.time() + 2
        while body not in seen and time.time() < deadline and status == "ACCEPTED":
            time.sleep(0.01)
        arrived = seen.get(body, [])
        if status != "ACCEPTED" or len(arrived) != 1:
            print(f"    # {case['why']}: {status}, arrived {arrived}")
            continue
        print(row(case, arrived[0], unfill))
    recorder.stdin.close()
    recorder.wait(10)


def row(case: dict[str, Any], arrived: dict[str, Any], unfill: Any) -> str:
    def text(value: str | None) -> str:
        return "None" if value is None else json.dumps(value, ensure_ascii=False)

    lines = ["    Row(", f"        {text(case['why'])},"]
    for key in ("routes", "rewrites"):
        if case.get(key):
            rules = " ".join(f"({text(p)}, {text(a)})," for p, a in case[key])
            lines.append(f"        {key}=({rules}),")
    lines.append(f"        put={text(case['address'])},")
    target, address = unfill(arrived["target"]), unfill(arrived["address"])
    lines.append(
        f"        arrived=Arrival({text(arrived['peer'])}, {text(target)}, {text(address)}),"
    )
    lines.append("    ),")
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1])

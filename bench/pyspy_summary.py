"""Summarise py-spy's collapsed stacks (``--format raw``) as text tables.

    python bench/pyspy_summary.py FILE.raw [--within FUNC] [--lines] [--top N]

Prints, as shares of the samples, the functions that spent the time
themselves ("self": the innermost Python frame, which includes the C code it
called) and the functions under which the time was spent ("inclusive").
``--within messenger_sender`` keeps only samples taken under that function
(leaving out imports and start-up); ``--lines`` splits functions by line.
``--groups`` sorts the samples into the Messenger's cost centres (encode,
decode, socket writes, event handling, ...): each sample goes to the
innermost frame that belongs to a group.
py-spy leaves idle samples out unless it was run with ``--idle``
(it still counts some time in epoll_wait: read the "select" group as idle).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# Cost centres of the Messenger's hot paths: (group, function names).
GROUPS = [
    ("select (waiting)", {"EpollSelector.select", "IO.select"}),
    (
        "encode: Message -> bytes",
        {
            "MessageEncoder.encode",
            "Encoder.encode",
            "pre_encode",
            "_pre_encode",
            "Message._pre_encode",
            "Message.encode",
            "with_value_body",
            "Router.kept_wire_copy",
        },
    ),
    (
        "decode: bytes -> Message",
        {
            "decode_into",
            "decode_sections",
            "Message.decode",
            "own_binary_sections",
            "recv_msg",
            "_body_after",
            "set_decoded",
        },
    ),
    ("socket write + engine output (flush)", {"Driver.flush"}),
    ("socket read + engine input", {"Driver._read"}),
    ("hand messages to the link (pump)", {"OutgoingQueue.pump"}),
    (
        "incoming deliveries, answers, credit",
        {
            "IncomingQueue.on_delivery",
            "OutgoingQueue.on_delivery",
            "OutgoingQueue.on_flow",
            "CreditScheduler.on_message",
            "CreditScheduler.flow",
            "CreditScheduler.on_flow",
        },
    ),
    ("engine event loop (Driver.process)", {"Driver.process"}),
    (
        "windows, trackers, dispositions",
        {
            "IncomingQueue.get",
            "IncomingQueue.take",
            "IncomingQueue.act",
            "IncomingQueue.trim",
            "dispose",
            "IncomingQueue.dispose_all",
            "OutgoingQueue.add",
            "OutgoingQueue.trim",
            "OutgoingQueue._set_status",
            "Messenger.status",
        },
    ),
    (
        "put: address, route, rewrite, reply_to",
        {"Messenger.put", "Router.wire_copy", "Router.sender_for", "Pump.send_soon"},
    ),
    (
        "rest of the I/O round (pump, ticks)",
        {
            "Driver.pump",
            "Messenger._sync",
            "Driver.exchange",
            "Driver.finish_round",
            "Pump.until",
            "Pump.after_io",
        },
    ),
]
GROUP_OF = {name: group for group, names in GROUPS for name in names}


def frame_name(frame: str, lines: bool) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "msgr_tui/"):
        if marker in path:
            path = path[path.index(marker) + len(marker) :]
            break
    name = f"{match['func']} ({path}"
    if lines and match["line"]:
        name += f":{match['line']}"
    return name + ")"


def group_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        match = FRAME.match(frame)
        group = GROUP_OF.get(match["func"] if match else frame)
        if group is not None:
            return group
    return "other"


def summarise(path: Path, within: str | None, lines: bool, top: int, groups: bool) -> None:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    grouped: Counter[str] = Counter()
    total = 0
    for raw in path.read_text().splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if within is not None:
            names = [FRAME.match(f)["func"] if FRAME.match(f) else f for f in frames]
            if within not in names:
                continue
            frames = frames[names.index(within) :]
        count = int(count_text)
        total += count
        own[frame_name(frames[-1], lines)] += count
        grouped[group_of(frames)] += count
        for name in {frame_name(frame, lines) for frame in frames}:
            inclusive[name] += count
    if not total:
        print(f"{path}: no samples{' under ' + within if within else ''}")
        return
    print(f"{path.name}: {total} samples{' under ' + within if within else ''}")
    tables = [("groups", grouped)] if groups else [("self", own), ("inclusive", inclusive)]
    for title, counter in tables:
        print(f"  {title}:")
        for name, count in counter.most_common(top):
            print(f"    {100 * count / total:5.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--within", help="only samples under this function name")
    parser.add_argument("--lines", action="store_true", help="split functions by line")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--groups", action="store_true", help="the Messenger's cost centres")
    args = parser.parse_args(argv)
    for path in args.files:
        summarise(path, args.within, args.lines, args.top, args.groups)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

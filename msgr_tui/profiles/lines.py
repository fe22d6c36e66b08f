"""Find the line of a key in TOML text (tomllib reports lines for syntax errors only).

Best effort by design: it understands ``[table]`` headers and ``key = value``
lines, which is how config files are written; a key it cannot find gets the
line of its table, or no line at all.
"""

from __future__ import annotations

import re
import tomllib

_HEADER = re.compile(r"^\s*\[(?!\[)(?P<inner>[^\[\]]+)\]\s*(#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*(?P<key>[A-Za-z0-9_.\-\s\"']+?)\s*=")


def _dotted(text: str) -> tuple[str, ...] | None:
    """``profiles."my prof".tls`` -> ("profiles", "my prof", "tls"), parsed by tomllib itself."""
    try:
        parsed = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    node: object = parsed
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
    return tuple(path) if node == 0 else None


def locate(text: str, path: tuple[str, ...]) -> int | None:
    """1-based line where ``path`` (e.g. ("profiles", "prod", "timeout")) is set."""
    table: tuple[str, ...] = ()
    best: int | None = None
    best_depth = -1
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            inner = _dotted(header["inner"].strip())
            if inner is None:
                continue
            table = inner
            if table == path:
                return number
            if path[: len(table)] == table and len(table) > best_depth:
                # The innermost enclosing table, in case the key itself is not found.
                best, best_depth = number, len(table)
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            key = _dotted(assignment["key"].strip())
            if key is not None and table + key == path[: len(table) + len(key)]:
                return number
    return best

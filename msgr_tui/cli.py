"""Command line entry point (the full TUI arrives with the TUI issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print(
        "msgr-tui: the terminal UI is not built yet; the Messenger library is "
        "available as msgr_tui.messenger",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

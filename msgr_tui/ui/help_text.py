"""Help text built from the screens' and panes' own bindings, so it always shows the real keys."""

from __future__ import annotations

from textual.binding import Binding

from .screens.main import MainScreen
from .widgets.compose_pane import ComposePane
from .widgets.incoming import IncomingPane
from .widgets.outgoing import OutgoingPane
from .widgets.subscriptions import SubscriptionsPane
from .widgets.virtual_table import VirtualTable

INTRO = """\
# msgr-tui

A Messenger (Qpid Proton's high-level AMQP 1.0 API) runs in the background; these
panes show what it does. Keys `1` to `4` jump between panes when no text field has
focus; `escape` leaves a text field. Every key below can be remapped by its id.

Quitting closes every connection cleanly: incoming messages you did not decide go
back to their senders. When outgoing messages are still unanswered (or incoming ones
undecided), `ctrl+q` first asks: wait for the answers, save the unanswered to a
message file, or quit anyway. SIGTERM, a dropped SSH session (SIGHUP) and a crash
keep the unanswered in a recovery file; the app says where as it ends, the next
start offers to send them again, and `msgr-tui send --from FILE` sends one too.
"""

PANES: list[tuple[str, type]] = [
    ("1 · Subscriptions", SubscriptionsPane),
    ("2 · Compose", ComposePane),
    ("3 · Incoming", IncomingPane),
    ("4 · Outgoing", OutgoingPane),
]


def _keys(binding: Binding, keymap: dict[str, str]) -> str:
    keys = keymap.get(binding.id or "", binding.key)
    return ", ".join(f"`{key.strip()}`" for key in keys.split(","))


def _table(bindings: list[Binding], keymap: dict[str, str]) -> str:
    lines = ["| key | what it does | id |", "|---|---|---|"]
    for binding in bindings:
        lines.append(f"| {_keys(binding, keymap)} | {binding.description} | `{binding.id}` |")
    return "\n".join(lines)


def help_markdown(app: type, keymap: dict[str, str]) -> str:
    """The main screen's help: the app's keys, the screen's, then each pane's."""
    sections = [
        INTRO,
        "## Everywhere",
        _table(_bindings(app), keymap),
        "## Main screen",
        _table(_bindings(MainScreen), keymap),
    ]
    for title, pane in PANES:
        sections.append(f"## {title}\n\n{pane.HELP}")
        bindings = _bindings(pane)
        if bindings:
            sections.append(_table(bindings, keymap))
    sections.append("## Tables\n\n" + _table(_bindings(VirtualTable), keymap))
    return "\n\n".join(sections)


def known_binding_ids(app: type) -> set[str]:
    """Every binding id of the app, its screens, panes and tables (for [keymap] checks)."""
    from .screens import (
        ask,
        confirm,
        detail,
        help,
        password_prompt,
        profile_form,
        profiles,
        quit,
        recovered,
    )

    owners: list[type] = [
        app,
        MainScreen,
        *(pane for _, pane in PANES),
        VirtualTable,
        detail.DetailScreen,
        help.HelpScreen,
        ask.AskScreen,
        confirm.ConfirmScreen,
        password_prompt.PasswordScreen,
        profile_form.ProfileFormScreen,
        profiles.ProfilesScreen,
        quit.QuitScreen,
        recovered.RecoveryScreen,
    ]
    return {b.id for owner in owners for b in _bindings(owner) if b.id}


def _bindings(owner: type) -> list[Binding]:
    return [b for b in getattr(owner, "BINDINGS", []) if isinstance(b, Binding)]


def screen_help_markdown(title: str, intro: str, owner: type, keymap: dict[str, str]) -> str:
    """Help for one screen: what it is for, then its keys as currently bound."""
    return f"# {title}\n\n{intro}\n\n## Keys\n\n{_table(_bindings(owner), keymap)}"

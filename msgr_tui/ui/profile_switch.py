"""Connecting with a profile: ask for missing secrets, stop the Messenger, start the next.

The app calls :meth:`ProfileSwitcher.connect_at_start` and :meth:`open_profiles`.
In return this module uses only the app's session API (``settings``,
``begin_session``, ``end_session``, ``not_connected``) and Textual's public
App methods (screens, workers, notifications): how a session is shown, and
what a profile switch does to the screens, stay the app's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..formatting import printable
from ..profiles import ProfileSession
from ..secret import Secret

if TYPE_CHECKING:
    from .app import MsgrTuiApp

# The bridge gives its Messenger STOP_GRACE (5 s) to close connections cleanly.
SWITCH_GRACE = 8.0


class ProfileSwitcher:
    def __init__(self, app: MsgrTuiApp, session: ProfileSession) -> None:
        self.app = app
        self.session = session

    def connect_at_start(self) -> None:
        """Start the Messenger, asking first for secrets the profile still needs."""
        self.app.run_worker(self._connect_at_start(), group="profiles", exclusive=True)

    async def _connect_at_start(self) -> None:
        app = self.app
        name = self.session.active
        if name is None or not self.session.requests(name):
            await app.begin_session(app.settings)
            return
        answers = await self._ask(name)
        if answers is None:
            app.not_connected()
            app.notify(
                f"not connected: profile {printable(name)} needs a password. "
                "F2 opens the profiles to connect again.",
                severity="warning",
                timeout=10,
            )
            return
        await app.begin_session(self.session.settings(name, answers))

    async def _ask(self, name: str) -> dict[str, Secret] | None:
        """Answers for each missing secret (memory only), or None when one was cancelled."""
        from .screens.password_prompt import PasswordScreen  # not needed before it asks

        answers: dict[str, Secret] = {}
        for request in self.session.requests(name):
            answer = await self.app.push_screen_wait(PasswordScreen(request))
            if answer is None:
                return None
            answers[request.key] = answer
        return answers

    # ------------------------------------------------------------ switching

    def open_profiles(self) -> None:
        from .screens.profiles import ProfilesScreen  # not needed at start

        self.app.push_screen(ProfilesScreen(self.session), self._chosen)

    def _chosen(self, name: str | None) -> None:
        if name is not None:
            self.app.run_worker(self.switch(name), group="profiles", exclusive=True)

    async def switch(self, name: str) -> bool:
        """Stop the running Messenger cleanly and start one for profile ``name``."""
        app = self.app
        answers = await self._ask(name)
        if answers is None:
            app.notify(f"still on the previous profile: no password for {printable(name)}")
            return False
        settings = self.session.settings(name, answers)
        if not await app.end_session(SWITCH_GRACE):
            app.notify(
                f"the Messenger did not stop within {SWITCH_GRACE:.0f} s: not switching",
                severity="error",
            )
            return False
        self.session.activate(name)
        await app.begin_session(settings)
        app.notify(f"connected with profile {printable(name)}", timeout=4)
        return True

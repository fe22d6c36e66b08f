"""Connecting with a profile: ask for missing secrets, stop the Messenger, start the next.

Kept out of app.py: the app only calls :meth:`ProfileSwitcher.connect_at_start`,
:meth:`open_profiles` and :meth:`bridge_stopped`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..bridge import BridgeState
from ..formatting import printable
from ..profiles import ProfileSession
from ..secret import Secret
from .screens.password_prompt import PasswordScreen
from .screens.profiles import ProfilesScreen

if TYPE_CHECKING:
    from .app import MsgrTuiApp

# The bridge gives its Messenger STOP_GRACE (5 s) to close connections cleanly.
SWITCH_GRACE = 8.0


class ProfileSwitcher:
    def __init__(self, app: MsgrTuiApp, session: ProfileSession) -> None:
        self.app = app
        self.session = session
        self._stopped = asyncio.Event()

    def connect_at_start(self) -> None:
        """Start the Messenger, asking first for secrets the profile still needs."""
        name = self.session.active
        if name is None or not self.session.requests(name):
            self.app.start_bridge()
            return
        self.app.run_worker(self._connect_at_start(name), group="profiles", exclusive=True)

    async def _connect_at_start(self, name: str) -> None:
        answers = await self._ask(name)
        if answers is None:
            self.app.status_bar.show_state(BridgeState.NOT_CONNECTED)
            self.app.notify(
                f"not connected: profile {printable(name)} needs a password. "
                "F2 opens the profiles to connect again.",
                severity="warning",
                timeout=10,
            )
            return
        self.app.settings = self.session.settings(name, answers)
        self.app.start_bridge()

    async def _ask(self, name: str) -> dict[str, Secret] | None:
        """Answers for each missing secret (memory only), or None when one was cancelled."""
        answers: dict[str, Secret] = {}
        for request in self.session.requests(name):
            answer = await self.app.push_screen_wait(PasswordScreen(request))
            if answer is None:
                return None
            answers[request.key] = answer
        return answers

    # ------------------------------------------------------------ switching

    def open_profiles(self) -> None:
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
        if not await self._stop_current():
            return False
        self.session.activate(name)
        await app.restart_with(settings)
        app.notify(f"connected with profile {printable(name)}", timeout=4)
        return True

    async def _stop_current(self) -> bool:
        app = self.app
        if app.bridge is None or app.bridge_stopped:
            return True
        self._stopped.clear()
        app.status_bar.show_state(BridgeState.STOPPING)
        app.bridge.stop()
        try:
            await asyncio.wait_for(self._stopped.wait(), SWITCH_GRACE)
        except TimeoutError:
            app.notify(
                f"the Messenger did not stop within {SWITCH_GRACE:.0f} s: not switching",
                severity="error",
            )
            return False
        return True

    def bridge_stopped(self) -> None:
        """The app saw BridgeStopped: the old Messenger is gone, its events all handled."""
        self._stopped.set()

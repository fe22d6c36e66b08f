"""Fixtures shared by the whole suite."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from msgr_tui.locations import STATE_ENV
from msgr_tui.messenger import Messenger, MessengerException
from tests.certs import CertificateSet, make_certificates
from tests.helpers import DEADLINE, Make, started

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own state directory: recovery files never land in the user's."""
    directory = tmp_path_factory.mktemp("state")
    monkeypatch.setenv(STATE_ENV, str(directory))
    return directory


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    """A CA, server and client certificates (and a second, untrusted CA) for TLS tests."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@dataclass(frozen=True)
class RabbitMQ:
    """The local broker: plain AMQP on 127.0.0.1:5672, TLS on localhost:5671."""

    host: str
    port: int
    tls_port: int
    tls_host: str
    ca: str
    script: Path

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}"

    def restart(self) -> None:
        subprocess.run([str(self.script), "restart"], check=True, timeout=300)


BROKER_SCRIPT = ROOT / "tests" / "brokers" / "rabbitmq.sh"
SKIP_BROKER = "MSGR_TUI_SKIP_BROKER"
SKIP_REASON = f"{SKIP_BROKER}=1: RabbitMQ tests skipped on request"


def _skipping_the_broker() -> bool:
    return os.environ.get(SKIP_BROKER) == "1" and os.environ.get("CI") != "true"


def pytest_report_header(config: pytest.Config) -> str | None:
    if _skipping_the_broker():
        return f"{SKIP_BROKER}=1: every test that needs RabbitMQ will be SKIPPED"
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly, and with a count, that broker tests were skipped on request."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if SKIP_BROKER in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"{len(skipped)} RabbitMQ tests SKIPPED on request ({SKIP_BROKER}=1)",
            red=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitMQ]:
    """Start the local RabbitMQ (installing it if needed) and stop it afterwards.

    It is left running if it was already running. Set MSGR_TUI_SKIP_BROKER=1 to
    skip broker tests on a machine where the broker cannot be installed; CI
    never sets it, so a broker that fails to start fails the run.
    """
    if _skipping_the_broker():
        pytest.skip(SKIP_REASON)
    was_running = (
        subprocess.run([str(BROKER_SCRIPT), "status"], capture_output=True, timeout=60).returncode
        == 0
    )
    if not was_running:
        started = subprocess.run(
            [str(BROKER_SCRIPT), "start"], capture_output=True, text=True, timeout=600
        )
        if started.returncode != 0:
            pytest.fail(
                "could not start RabbitMQ with tests/brokers/rabbitmq.sh start:\n"
                + started.stderr[-4000:],
                pytrace=False,
            )
    paths = subprocess.run(
        [str(BROKER_SCRIPT), "paths"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    values = dict(line.split("=", 1) for line in paths.split())
    yield RabbitMQ(
        host="127.0.0.1",
        port=int(values["AMQP_PORT"]),
        tls_port=int(values["AMQPS_PORT"]),
        tls_host=values["TLS_HOST"],
        ca=values["CA"],
        script=BROKER_SCRIPT,
    )
    if not was_running:
        subprocess.run([str(BROKER_SCRIPT), "stop"], capture_output=True, timeout=300)


@pytest.fixture
def messengers() -> Iterator[Make]:
    """Factory of started Messengers (same thread) that are all stopped at teardown."""
    made: list[Messenger] = []

    def make(name: str | None = None, **properties: object) -> Messenger:
        messenger = started(name, **properties)
        made.append(messenger)
        return messenger

    yield make
    for messenger in made:
        messenger.blocking = False
        # Errors were already asserted (or not) by the test itself.
        with contextlib.suppress(MessengerException):
            messenger.stop()
    deadline = time.monotonic() + DEADLINE
    while not all(m.stopped for m in made):
        assert time.monotonic() < deadline, "messengers did not stop at teardown"
        for messenger in made:
            if not messenger.stopped:
                with contextlib.suppress(MessengerException):
                    messenger.work(0.005)

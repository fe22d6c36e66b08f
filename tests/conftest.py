"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certs import CertificateSet, make_certificates

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    """A CA, server and client certificates (and a second, untrusted CA) for TLS tests."""
    return make_certificates(tmp_path_factory.mktemp("certs"))

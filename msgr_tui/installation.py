"""What this installation can do that depends on how Proton was built (no UI imports).

python-qpid-proton has no Linux wheel: pip builds it, and a machine without the
OpenSSL headers gets a Proton without TLS, silently. The app and ``doctor`` say
so, with the fix.
"""

from __future__ import annotations

import proton

TLS_FIX = (
    "Proton was built without OpenSSL: `apt install libssl-dev pkg-config` (Debian/Ubuntu) "
    "then `pip install --force-reinstall --no-binary python-qpid-proton python-qpid-proton`"
)


def tls_available() -> bool:
    """Whether this Proton build can speak TLS (amqps:// and amqps://~ listeners)."""
    return bool(proton.SSL.present())


def missing_tls_notice() -> str | None:
    """What to tell the user at start when TLS is missing, else None."""
    if tls_available():
        return None
    return f"TLS is not available: amqps:// addresses will fail. {TLS_FIX}"

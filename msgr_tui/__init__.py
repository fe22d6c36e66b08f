"""msgr-tui: a terminal client for AMQP 1.0 messaging."""

from .startup_trace import mark as _mark

__version__ = "0.1.0"

_mark("interpreter")  # the first of the app's code that runs, however it was started

"""msgr-tui: a terminal client for AMQP 1.0 messaging."""

__version__ = "0.1.0"

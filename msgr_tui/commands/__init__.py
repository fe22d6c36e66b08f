"""Subcommands of msgr-tui: profiles, send, recv (each: add_arguments + run)."""

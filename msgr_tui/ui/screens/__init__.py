"""Modal screens: help, message details, profiles, password prompt."""

"""Screens: the main one (one session's panes), and the modal ones (help, message
details, profiles, password prompt)."""

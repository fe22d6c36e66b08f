"""Panes and widgets of the main screen."""

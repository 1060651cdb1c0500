"""Moved to ``tecwatch.registry.homeview`` (a read service of the registry); this name stays for
code that still imports it from here."""

from tecwatch.registry.homeview import *  # noqa: F401,F403

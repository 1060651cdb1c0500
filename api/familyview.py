"""Moved to ``tecwatch.registry.familyview`` (a read service of the registry); this name stays for
code that still imports it from here."""

from tecwatch.registry.familyview import *  # noqa: F401,F403

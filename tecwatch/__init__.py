"""tecwatch: technology-enabled care monitoring for adult social care."""

__version__ = "0.1.0"

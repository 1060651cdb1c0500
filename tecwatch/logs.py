"""Process-wide logging set-up, shared by the CLI and worker processes."""

from __future__ import annotations

import logging
import sys

# Libraries that log every connection or request at INFO.
_CHATTY = ("amqtt", "transitions", "httpx", "httpcore", "urllib3", "alembic", "apscheduler")


def configure(level: str, tag: str = "") -> None:
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {tag}%(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))

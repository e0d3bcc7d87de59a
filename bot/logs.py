"""Logging as the CLI and the service workers set it up: one line per record on stderr."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
NOISY = ("httpx", "httpcore", "jieba")


def configure(level: int | str) -> None:
    """Log at ``level`` in :data:`FORMAT`. Records skip what the format never shows (the
    process and thread ids and names, the caller's file and line): the webhook writes a
    record per message, and looking those up costs more than writing the line."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]  # the documented switch for caller lookup

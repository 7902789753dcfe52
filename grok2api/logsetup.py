"""Logging to stderr as text or one JSON object per line, repeated identical lines rate-limited."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

REPEAT_WINDOW_SEC = 10.0
REPEAT_KEYS = 1024  # distinct recent lines remembered


class RepeatFilter(logging.Filter):
    """Lets a line through once per `window` seconds; the copies in between are counted and the
    next copy let through says how many there were. An attack that makes one line repeat (a refused
    accept(), a failing peer) costs a line per window, not a disk."""

    def __init__(self, window: float = REPEAT_WINDOW_SEC, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()  # key -> [shown at, skipped]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
            return True
        key = (record.name, record.levelno, text)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg, record.args = f"{text} (repeated {int(seen[1])} more times in {self.window:g} s)", None
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        while len(self._seen) > REPEAT_KEYS:
            self._seen.popitem(last=False)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log line per request is noise at INFO for a gateway doing thousands/s.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

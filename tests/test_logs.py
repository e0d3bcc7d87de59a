"""Logging of a serving worker: lines go to stderr in blocks, in order, and none is lost when
the process ends."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# A serving worker's logging, with stderr going to the file {path}
_TO_FILE = """
import json, logging, os, sys
sys.path.insert(0, {root!r})
out = open({path!r}, "w")
os.dup2(out.fileno(), 2)  # stderr is the file
from bot import logs
logs.configure("INFO")
logs.buffer_stderr(every=3600)  # no timed flush during the test: only what the rules say
"""


def _worker(script: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (``{root}`` and ``{path}`` filled in) in a Python of its own."""
    code = script.format(root=str(ROOT), path=str(path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


_WORKER = _TO_FILE + """
log = logging.getLogger("t")
size = lambda: os.path.getsize({path!r})
log.info("one")
log.info("two %s", "二")
sizes = [size()]
log.warning("three")  # a warning goes out at once, after what came before it
sizes.append(size())
log.info("four")
sizes.append(size())
logs.flush()
sizes.append(size())
log.info("five")
print(json.dumps(sizes))
"""


def test_lines_go_out_in_blocks_in_order_and_at_exit(tmp_path: Path) -> None:
    path = tmp_path / "stderr.txt"
    done = _worker(_WORKER, path)
    assert done.returncode == 0, done.stderr
    held, warned, after_info, flushed = json.loads(done.stdout)
    assert held == 0  # two info lines wait in the buffer
    assert warned > 0 and after_info == warned  # the warning took them out; "four" waits
    assert flushed > after_info
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [ln.split(" t ", 1)[1] for ln in lines] == ["one", "two 二", "three", "four", "five"]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert all(re.match(stamp + r" (INFO|WARNING) t ", ln) for ln in lines), lines
    assert lines[2].split()[2] == "WARNING"


_SHORTCUT = _TO_FILE + """
log = logging.getLogger("newsbot.access")
logs.info(log, '{{"user": "o_1"}}')  # the shortcut: no record
log.info('{{"user": "o_1"}}')  # the same through a record
seen = []
log.addFilter(lambda record: seen.append(record.getMessage()) or True)
logs.info(log, "filtered")  # a filter on the way: it must see the record
logging.getLogger("newsbot").setLevel(logging.WARNING)
logs.info(log, "below the level")
logging.getLogger("newsbot").setLevel(logging.NOTSET)
log.filters.clear()
log.disabled = True  # as logging.config does to loggers it was not told about
logs.info(log, "from a disabled logger")
print(seen)
"""


def test_the_access_log_shortcut_writes_what_a_record_would(tmp_path: Path) -> None:
    path = tmp_path / "stderr.txt"
    done = _worker(_SHORTCUT, path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['filtered']"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    shortcut, record, filtered = (ln.split(" ", 2) for ln in lines)  # date, time, the rest
    assert shortcut[2] == record[2] == 'INFO newsbot.access {"user": "o_1"}'
    assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3}", shortcut[1]) and shortcut[0] == record[0]
    assert filtered[2] == "INFO newsbot.access filtered"


_BROKEN = """
import logging, os, sys, threading, time
sys.path.insert(0, {root!r})
reader, writer = os.pipe()
os.dup2(writer, 2)
os.close(reader)  # nobody reads stderr any more: every write to it fails (EPIPE)
from bot import logs
logs.configure("INFO")
logs.buffer_stderr(every=0.05)
log = logging.getLogger("newsbot.access")
for i in range(20):  # well past the buffer: the shortcut's writes reach the broken pipe
    logs.info(log, "line %d " % i + "x" * 10_000)
log.warning("a warning flushes at once")
logs.flush()
time.sleep(0.3)  # the flusher has met the broken pipe a few times
alive = [t.name for t in threading.enumerate() if t.name == "log-flush" and t.is_alive()]
print("answered", alive, flush=True)
"""


def test_a_broken_stderr_costs_lines_not_the_caller(tmp_path: Path) -> None:
    done = _worker(_BROKEN)
    assert done.stdout.strip() == "answered ['log-flush']", (done.stdout, done.stderr)
    assert done.returncode == 0


_DROPPED = _TO_FILE + """
logs.info(logging.getLogger("newsbot.access"), "the last line")
# a server's logging set-up replaces the root's handlers: the buffer is still written at exit
logging.getLogger().handlers.clear()
logging._handlerList.clear()
"""


def test_the_buffer_is_written_at_exit_after_its_handler_was_dropped(tmp_path: Path) -> None:
    path = tmp_path / "stderr.txt"
    done = _worker(_DROPPED, path)
    assert done.returncode == 0, done.stderr
    assert path.read_text(encoding="utf-8").rstrip().endswith("INFO newsbot.access the last line")

"""A failed child's reason: the exception that ended it, not one handled on the way."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.edges.process import Completed, run

# docker-compose 1.15.0 (docker SDK 2.4.2) on Python 3.11 with a .dockerignore, shortened
RE_ERROR = """\
Building test
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/docker/utils/fnmatch.py", line 45, in fnmatch
    re_pat = _cache[pat]
             ~~~~~~^^^^^
KeyError: '*.txt'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/venv/bin/docker-compose", line 8, in <module>
    sys.exit(main())
  File "/usr/lib/python3.11/re/_parser.py", line 841, in _parse
    raise source.error('global flags not at the start '
re.error: global flags not at the start of the expression at position 9
"""

# docker-compose 1.22.0 with docker SDK 6.1.3 on a real engine, shortened
SDK6 = """\
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/docker/api/client.py", line 268, in _raise_for_status
    response.raise_for_status()
requests.exceptions.HTTPError: 404 Client Error: Not Found for url: http+docker://localhost/v1.22/networks/cachebisectdd66a07737cc_default

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/docker/errors.py", line 34, in <genexpr>
    if any(fragment in explanation_msg
TypeError: a bytes-like object is required, not 'str'
"""

# the other way Python chains exceptions (raise ... from ...)
DIRECT_CAUSE = """\
Traceback (most recent call last):
KeyError: 'x'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
ValueError: no x
"""


def completed(output: str) -> Completed:
    return Completed(("docker-compose", "build"), 1, output, 1.0, False)


def test_the_reason_is_the_last_exception_of_a_chained_traceback() -> None:
    assert completed(RE_ERROR).error_lines(3) == (
        "re.error: global flags not at the start of the expression at position 9"
    )
    assert completed(SDK6).error_lines(3) == (
        "TypeError: a bytes-like object is required, not 'str'"
    )
    assert completed(DIRECT_CAUSE).error_lines(3) == "ValueError: no x"


def test_an_unchained_failure_keeps_its_error_lines() -> None:
    output = "Building test\nERROR: Cannot locate specified Dockerfile: Dockerfile\n"
    assert completed(output).error_lines(3) == (
        "ERROR: Cannot locate specified Dockerfile: Dockerfile"
    )
    assert completed("just a last line\n").error_lines() == "just a last line"


def test_a_child_blocked_opening_a_fifo_at_its_timeout_is_seen_as_stuck(tmp_path: Path) -> None:
    """docker-py before 2.7.0 opened a fifo of the context to read it and waited for a writer
    for ever: that hang is told apart from a slow child."""
    os.mkfifo(tmp_path / "pipe")
    reader = f"print('reading'); open({str(tmp_path / 'pipe')!r}, 'rb')"
    stuck = run([sys.executable, "-c", reader], env=os.environ, timeout=3)
    assert stuck.timed_out and stuck.stuck_on_fifo
    slow = run([sys.executable, "-c", "import time; time.sleep(30)"], env=os.environ, timeout=3)
    assert slow.timed_out and not slow.stuck_on_fifo

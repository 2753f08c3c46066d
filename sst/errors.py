"""User errors: one ``ERROR: ...`` line on the console, the traceback in the log.

Every entry point ends with ``run_main(main)``. A user error (bad input, a missing file or model: the
exception types in USER_ERRORS, whose messages name the file and line, utterance or option at fault)
prints one line on stderr and exits 1. Its traceback goes to the job log when the process runs under
tools/dispatch.sh (which sets ``SST_LOG`` to the log file; stderr is that log), else to a file in the
temporary directory named at the end of the line. Any other exception is a bug and keeps Python's
own traceback.
"""
from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import yaml

# ValueError covers DataDirError, UnicodeDecodeError and the checks of the data readers; OSError
# covers FileNotFoundError and ModelNotFoundError.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, yaml.YAMLError)
LOG_ENV = "SST_LOG"


def one_line(error: BaseException) -> str:
    """The error's message on one line (line breaks of multi-line messages become ``; ``)."""
    message = str(error).strip() or type(error).__name__
    return "; ".join(part.strip() for part in message.splitlines() if part.strip())


def report_user_error(error: BaseException, program: str) -> None:
    """Print ``ERROR: <message>`` on stderr and keep the traceback in the log (see the module doc)."""
    text = "".join(traceback.format_exception(error))
    line = f"ERROR: {one_line(error)}"
    if os.environ.get(LOG_ENV):
        sys.stderr.write(text)  # stderr is the job log
    else:
        fd, path = tempfile.mkstemp(prefix=f"sst_{program}_", suffix=".traceback")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        line += f" (traceback: {path})"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run_main(main: Callable[[], object]) -> None:
    """Run an entry point's ``main()``; a user error exits 1 with one line (see report_user_error)."""
    try:
        main()
    except USER_ERRORS as error:
        report_user_error(error, Path(sys.argv[0]).stem)
        sys.exit(1)

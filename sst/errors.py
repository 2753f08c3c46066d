"""User errors: one ``ERROR: ...`` line on the console, the traceback in the log; a bug keeps its traceback.

Every entry point ends with ``run_main(main)``. A user error prints one line on stderr and exits 1. A
user error is, by type, a :class:`UserError` (bad input, a missing file or model, a bad option or
config: its message names the file and line, utterance or option at fault) or an operating-system
error the user's machine causes (USER_ERRNOS: no space left, permission denied, read-only file system,
no such file), whose line names the path and what to do. Its traceback goes to the job log when the
process runs under tools/dispatch.sh (which sets ``SST_LOG`` to the log file; stderr is that log), else
to a file in the temporary directory named at the end of the line. Any other exception (ValueError,
KeyError, RuntimeError... raised inside the toolkit) is a bug and keeps Python's own traceback.
"""
from __future__ import annotations

import errno
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

LOG_ENV = "SST_LOG"

# What a user does about each operating-system error that is theirs to fix.
_FREE_SPACE = "free space or write elsewhere (e.g. another --dumpdir / --output_dir), then rerun: finished work is kept"
USER_ERRNOS: dict[int, str] = {
    errno.ENOSPC: _FREE_SPACE,
    errno.EDQUOT: _FREE_SPACE,
    errno.EACCES: "check the path's owner and permissions, or write elsewhere",
    errno.EPERM: "check the path's owner and permissions, or write elsewhere",
    errno.EROFS: "write elsewhere, or remount the file system read-write",
    errno.ENOENT: "check the path (a file an earlier stage writes: run that stage first)",
}


class UserError(Exception):
    """A mistake the user can fix (bad input, option, config, a missing file or model); the message names it."""


class ConfigError(UserError):
    """A bad config file or command-line option; the message names the file, key or option."""


def is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is the user's to fix (a UserError or one of USER_ERRNOS), not a bug."""
    return isinstance(error, UserError) or (isinstance(error, OSError) and error.errno in USER_ERRNOS)


def one_line(error: BaseException) -> str:
    """The error's message on one line (line breaks of multi-line messages become ``; ``); an OSError of
    USER_ERRNOS is ``<path>: <what happened>; <what to do>``."""
    if isinstance(error, OSError) and not isinstance(error, UserError) and error.errno in USER_ERRNOS:
        what = (error.strerror or os.strerror(error.errno)).lower()
        paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
        return ": ".join([*paths, what]) + f"; {USER_ERRNOS[error.errno]}"
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
    except Exception as error:
        if not is_user_error(error):
            raise
        report_user_error(error, Path(sys.argv[0]).stem)
        sys.exit(1)

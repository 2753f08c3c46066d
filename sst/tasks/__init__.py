"""ESPnet tasks: how each training job declares its data and builds its model.

Every module here imports ESPnet's task and trainer code, which imports its transformer attention module;
that module prints "Failed to import Flash Attention, using ESPnet default: ..." on stdout when flash_attn
is missing. It is imported here first, with stdout sent to stderr, so that the stdout of no command
(``check_config``'s report, a translation) carries that line.
"""
import contextlib
import sys

with contextlib.redirect_stdout(sys.stderr):
    import espnet.nets.pytorch_backend.transformer.attention  # noqa: F401

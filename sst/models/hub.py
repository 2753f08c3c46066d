"""Where a model argument (a local directory or a Hugging Face hub id) is, without waiting on a network.

A hub id already in the local Hugging Face cache loads from the cache with no request at all (an
offline GPU node must not spend a minute on retries); one that is not cached is downloaded only when
the hub answers a quick connection, otherwise ModelNotFoundError says which id and how to pass a
local directory instead.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from sst.errors import UserError

# Seconds to wait for the hub to accept a connection before calling it unreachable.
CONNECT_TIMEOUT = 3.0


class ModelNotFoundError(UserError):
    """A model argument is neither a local directory nor a reachable hub id; the message says how to fix it."""


def hub_reachable(endpoint: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether the hub endpoint (e.g. https://huggingface.co) accepts a TCP connection within ``timeout``."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def locate_model(name_or_dir: str, option: str = "the model") -> str:
    """A local directory for ``name_or_dir`` (itself, or its snapshot in the HF cache), or the hub id when
    it must be downloaded and the hub is reachable; ModelNotFoundError (one line) otherwise.

    ``option`` names where the argument came from in the message, e.g. ``--teacher_model``.
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if Path(name_or_dir).is_dir():
        return str(name_or_dir)
    if name_or_dir.startswith((".", "/", "~")) or name_or_dir.count("/") > 1:
        raise ModelNotFoundError(f"{option} {name_or_dir}: no such directory")
    try:
        return snapshot_download(name_or_dir, local_files_only=True)
    except (LocalEntryNotFoundError, ValueError):
        pass
    offline = constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    if not offline and hub_reachable(constants.ENDPOINT):
        return name_or_dir
    why = "HF_HUB_OFFLINE is set" if offline else f"{constants.ENDPOINT} cannot be reached"
    raise ModelNotFoundError(
        f"{option} {name_or_dir}: not a local directory, not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
        f"and {why}; download it where there is network (hf download {name_or_dir} --local-dir DIR) "
        f"and pass {option} DIR")

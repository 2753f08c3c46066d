"""The decoding settings shared by stage 5, ``sst.bin.translate`` and ``sst.bin.longform_decode``:
defaults, then a decoding YAML (``conf/decode_st.yaml``), then command-line overrides."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping

import yaml

DECODE_DEFAULTS = {"beam_size": 5, "length_penalty": 1.0, "max_length": 200, "max_len_ratio": 0.0,
                   "batch_size": 16, "batch_bins": 4000000}


def add_decode_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` (decoding YAML) and one override option per decoding setting."""
    parser.add_argument("--config", type=Path, default=None, help="decoding YAML (conf/decode_st.yaml)")
    for key, value in DECODE_DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=None, help=f"overrides the config (default {value})")


def checked_options(options: Mapping[str, object], source: object) -> dict:
    """``options`` as a dict after checking that each is a decoding setting; ValueError naming ``source``
    (the config file, the function given them) otherwise."""
    unknown = set(options) - set(DECODE_DEFAULTS)
    if unknown:
        raise ValueError(f"{source}: unknown decoding settings {sorted(unknown)}; known: {sorted(DECODE_DEFAULTS)}")
    return dict(options)


def decode_options(args: argparse.Namespace) -> dict:
    """The decoding settings: defaults, then the config file, then command-line overrides."""
    options = dict(DECODE_DEFAULTS)
    if args.config:
        options.update(checked_options(yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}, args.config))
    options.update({k: getattr(args, k) for k in DECODE_DEFAULTS if getattr(args, k) is not None})
    return options

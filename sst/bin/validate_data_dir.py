"""Check Kaldi-style data dirs (stage 1) or dump dirs (stage 2); exit 1 naming the file and line at fault.

    python -m sst.bin.validate_data_dir data/train_fr_en [dump/train_fr_en ...]

Checks: UTF-8, sorted keys (LC_ALL=C order), no duplicate keys, column counts, the same utterances in
every per-utterance file, segments referring to recordings of wav.scp with end > start, no empty text,
and at least one utterance (an empty set names its skip counts).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sst.data.datadir import empty_set_error, is_dump_dir, validate_data_dir, validate_dump_dir
from sst.io import DataDirError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", type=Path, nargs="+", help="data or dump dirs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    failed = False
    for path in args.dirs:
        try:
            if is_dump_dir(path):
                n, report = len(validate_dump_dir(path)["wav.scp"]), path / "dump_report.txt"
            else:
                n, report = len(validate_data_dir(path).utt2lang), path / "skip_report.txt"
            if n == 0:
                raise empty_set_error(path, report)
        except DataDirError as e:
            print(f"validate_data_dir: {e}", file=sys.stderr)
            failed = True
            continue
        logging.info("%s: OK (%d utterances)", path, n)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

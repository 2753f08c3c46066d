"""Stage 1: Europarl-ST v1.1 to Kaldi-style data dirs ``<output_dir>/<split>_<src>_<tgt>`` (with segments).

    python -m sst.bin.prepare_europarl_st --europarl_dir $EUROPARL_ST --src_lang fr --tgt_lang en \\
        --output_dir data [--splits train dev test]

``--europarl_dir`` is the folder holding ``v1.1/`` (or ``v1.1`` itself). Skipped segments are counted
by reason in ``skip_report.txt``; a set whose inputs did not change since the last run is left as it is.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.data import europarl_st
from sst.data.corpus import add_set_options, is_prepared, write_prepared_set
from sst.data.provenance import file_digest

FORMAT_VERSION = 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--europarl_dir", type=Path, required=True, help="Europarl-ST root (holding v1.1/)")
    add_set_options(parser, src_help="e.g. fr",
                    splits_help="Europarl-ST split folders (train, dev, test, train-noisy, ...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    src, tgt = europarl_st.check_langs(args.src_lang, args.tgt_lang)
    root = europarl_st.release_dir(args.europarl_dir)
    for split in args.splits:
        set_dir = args.output_dir / f"{split}_{src}_{tgt}"
        split_dir = root / src / tgt / split
        inputs = [split_dir / name for name in ("segments.lst", f"segments.{src}", f"segments.{tgt}")]
        made_from = {"inputs": {str(p.resolve()): file_digest(p) for p in inputs if p.is_file()},
                     "version": FORMAT_VERSION, "corpus": "europarl_st", "root": str(root.resolve()), "src": src,
                     "tgt": tgt, "split": split}
        if is_prepared(set_dir, made_from):
            continue
        utts, report = europarl_st.load_split(args.europarl_dir, src, tgt, split)
        write_prepared_set(set_dir, utts, report, made_from, src_lang=src, tgt_lang=tgt, segmented=True)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

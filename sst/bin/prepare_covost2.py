"""Stage 1: CoVoST-2 (on Common Voice 4 or any later release) to Kaldi-style data dirs ``<output_dir>/<split>_<src>_<tgt>``.

    python -m sst.bin.prepare_covost2 --covost_dir $COVOST2 --commonvoice_dir $COMMONVOICE \\
        --src_lang fr --tgt_lang en --output_dir data [--splits train dev test]

Skipped rows are counted by reason in ``skip_report.txt``; a set whose inputs did not change since
the last run is left as it is.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.data import covost2, langs
from sst.data.corpus import add_set_options, is_prepared, write_prepared_set
from sst.data.provenance import file_digest

FORMAT_VERSION = 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--covost_dir", type=Path, required=True, help="folder with covost_v2.<src>_<tgt>.tsv")
    parser.add_argument("--commonvoice_dir", type=Path, required=True,
                        help="a Common Voice release, 4 or later: <lang>/validated.tsv and <lang>/clips/")
    add_set_options(parser, src_help="e.g. fr, zh (or CoVoST's zh-CN)",
                    splits_help="train also takes CoVoST's train_covost rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    src, tgt = covost2.direction(args.src_lang, args.tgt_lang)
    short_src, short_tgt = langs.normalize(src), langs.normalize(tgt)
    inputs = [covost2.tsv_path(args.covost_dir, src, tgt), covost2.validated_path(args.commonvoice_dir, src)]
    digests = {str(p.resolve()): file_digest(p) for p in inputs}
    set_dirs = {split: args.output_dir / f"{split}_{short_src}_{short_tgt}" for split in args.splits}
    made_from = {split: {"inputs": digests, "version": FORMAT_VERSION, "corpus": "covost2", "src": src,
                         "tgt": tgt, "split": split,
                         "clips_dir": str((args.commonvoice_dir / src / "clips").resolve())}
                 for split in args.splits}
    todo = [split for split in args.splits if not is_prepared(set_dirs[split], made_from[split])]
    if not todo:
        return
    results = covost2.load_covost2(args.covost_dir, args.commonvoice_dir, src, tgt, todo)
    for split, (utts, report) in results.items():
        write_prepared_set(set_dirs[split], utts, report, made_from[split], src_lang=short_src, tgt_lang=short_tgt,
                           segmented=False)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

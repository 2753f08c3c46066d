"""Stage 1: the SAMU distillation data of one language from a Common Voice release (``--samu_data commonvoice``).

    python -m sst.bin.prepare_commonvoice --commonvoice_dir $COMMONVOICE --covost_dir $COVOST2 \\
        --lang fr --output_dir data/commonvoice_fr_10h [--hours 10] [--seed 0]

Writes one data dir of the transcribed clips of ``<commonvoice_dir>/<lang>/validated.tsv`` that are
neither clips nor re-readings of CoVoST-2 dev/test rows (see sst.data.commonvoice), at most ``--hours``
hours of them chosen by ``--seed``; what was left out, by reason, goes to ``skip_report.txt``. The set is
left as it is when its inputs, hours and seed did not change since the last run.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.data import commonvoice
from sst.data.corpus import is_prepared, write_prepared_set
from sst.data.provenance import file_digest


def positive_hours(value: str) -> float:
    """--hours: a positive number."""
    hours = float(value)
    if not hours > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of hours, not {value}")
    return hours


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commonvoice_dir", type=Path, required=True,
                        help="a Common Voice release: <lang>/validated.tsv and <lang>/clips/")
    parser.add_argument("--covost_dir", type=Path, required=True,
                        help="folder with covost_v2.<src>_<tgt>.tsv of every CoVoST-2 direction from --lang")
    parser.add_argument("--lang", required=True, help="a Common Voice language: CoVoST-2's (fr, zh) or any other "
                                                      "folder name of the release (pl, fy-NL)")
    parser.add_argument("--output_dir", type=Path, required=True, help="the data dir to write")
    parser.add_argument("--hours", type=positive_hours, default=None, help="at most this many hours [all]")
    parser.add_argument("--seed", type=int, default=0, help="which clips --hours selects [0]")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    lang_dir = commonvoice.language_dir(args.commonvoice_dir, args.lang)
    inputs = [lang_dir / "validated.tsv", *commonvoice.held_out_tsvs(args.covost_dir, args.lang)]
    if (lang_dir / commonvoice.DURATIONS_FILE).is_file():
        inputs.append(lang_dir / commonvoice.DURATIONS_FILE)
    made_from = {"inputs": {str(p.resolve()): file_digest(p) for p in inputs},
                 "version": commonvoice.SELECTION_VERSION, "corpus": "commonvoice", "lang": args.lang,
                 "hours": args.hours, "seed": args.seed, "clips_dir": str((lang_dir / "clips").resolve())}
    if is_prepared(args.output_dir, made_from):
        return
    selection = commonvoice.select(args.commonvoice_dir, args.covost_dir, args.lang, hours=args.hours,
                                   seed=args.seed)
    write_prepared_set(args.output_dir, selection.utts, selection.report, made_from, src_lang=args.lang,
                       tgt_lang=args.lang, segmented=False)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

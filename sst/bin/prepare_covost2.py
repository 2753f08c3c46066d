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
from sst.data.datadir import validate_data_dir, write_data_dir
from sst.data.provenance import Provenance, file_digest

FORMAT_VERSION = 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--covost_dir", type=Path, required=True, help="folder with covost_v2.<src>_<tgt>.tsv")
    parser.add_argument("--commonvoice_dir", type=Path, required=True,
                        help="a Common Voice release, 4 or later: <lang>/validated.tsv and <lang>/clips/")
    parser.add_argument("--src_lang", required=True, help="e.g. fr, zh (or CoVoST's zh-CN)")
    parser.add_argument("--tgt_lang", required=True, help="e.g. en")
    parser.add_argument("--output_dir", type=Path, required=True, help="data dirs go in <output_dir>/<split>_<src>_<tgt>")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"],
                        help="train also takes CoVoST's train_covost rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    src, tgt = covost2.direction(args.src_lang, args.tgt_lang)
    short_src, short_tgt = langs.normalize(src), langs.normalize(tgt)
    inputs = [covost2.tsv_path(args.covost_dir, src, tgt), covost2.validated_path(args.commonvoice_dir, src)]
    made_from, todo = {}, []
    for split in args.splits:
        set_dir = args.output_dir / f"{split}_{short_src}_{short_tgt}"
        made_from[split] = {"inputs": {str(p.resolve()): file_digest(p) for p in inputs}, "version": FORMAT_VERSION,
                            "corpus": "covost2", "src": src, "tgt": tgt, "split": split,
                            "clips_dir": str((args.commonvoice_dir / src / "clips").resolve())}
        record = Provenance(set_dir, "prepare")
        if not (record.is_current(made_from[split], set_dir) and (set_dir / "wav.scp").is_file()):
            record.clear()
            todo.append(split)
    if not todo:
        return
    results = covost2.load_covost2(args.covost_dir, args.commonvoice_dir, src, tgt, todo)
    for split, (utts, report) in results.items():
        set_dir = args.output_dir / f"{split}_{short_src}_{short_tgt}"
        write_data_dir(
            set_dir,
            wav_scp={u.utt_id: str(u.clip) for u in utts},
            texts={short_src: {u.utt_id: u.transcript for u in utts},
                   short_tgt: {u.utt_id: u.translation for u in utts}},
            utt2spk={u.utt_id: u.speaker for u in utts},
            utt2lang={u.utt_id: short_src for u in utts},
            utt2tgt_lang={u.utt_id: short_tgt for u in utts},
        )
        report.write(set_dir / "skip_report.txt")
        report.log()
        validate_data_dir(set_dir)
        Provenance(set_dir, "prepare").save(made_from[split])
        logging.info("wrote %s (%d utterances)", set_dir, len(utts))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

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
from sst.data.datadir import Segment, validate_data_dir, write_data_dir
from sst.data.provenance import Provenance, file_digest

FORMAT_VERSION = 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--europarl_dir", type=Path, required=True, help="Europarl-ST root (holding v1.1/)")
    parser.add_argument("--src_lang", required=True)
    parser.add_argument("--tgt_lang", required=True)
    parser.add_argument("--output_dir", type=Path, required=True, help="data dirs go in <output_dir>/<split>_<src>_<tgt>")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"],
                        help="Europarl-ST split folders (train, dev, test, train-noisy, ...)")
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
        record = Provenance(set_dir, "prepare")
        if record.is_current(made_from, set_dir) and (set_dir / "wav.scp").is_file():
            continue
        record.clear()
        utts, report = europarl_st.load_split(args.europarl_dir, src, tgt, split)
        write_data_dir(
            set_dir,
            wav_scp={u.recording_id: str(u.audio) for u in utts},
            segments={u.utt_id: Segment(u.recording_id, u.start, u.end) for u in utts},
            texts={src: {u.utt_id: u.transcript for u in utts},
                   tgt: {u.utt_id: u.translation for u in utts}},
            utt2spk={u.utt_id: u.recording_id for u in utts},
            utt2lang={u.utt_id: src for u in utts},
            utt2tgt_lang={u.utt_id: tgt for u in utts},
        )
        report.write(set_dir / "skip_report.txt")
        report.log()
        validate_data_dir(set_dir)
        record.save(made_from)
        logging.info("wrote %s (%d segments)", set_dir, len(utts))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

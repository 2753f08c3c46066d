"""Stage 2: combine dump dirs (e.g. several translation directions) into one training dump dir.

    python -m sst.bin.combine_data --output_dir dump/train_multi dump/train_fr_en dump/train_de_en

Every per-utterance ``key value`` file that all inputs have (wav.scp, utt2num_samples, speech_shape,
transcript, translation, utt2lang, utt2tgt_lang, utt2spk, teacher_embed.scp, text_int, ...) is
concatenated and sorted; files only some inputs have are left out (and logged). An utterance id in
two inputs is an error. Paths in wav.scp / *.scp are copied as they are, so inputs should use
absolute paths (dump_audio writes absolute paths). The combination is redone when any input file or
what an input was made from (its provenance records) changed.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.data.datadir import per_utterance_files, validate_dump_dir
from sst.errors import ConfigError
from sst.io import DataDirError, read_kv, write_kv
from sst.data.provenance import Provenance, dump_fingerprint


def combine(inputs: list[Path], output_dir: Path) -> list[str]:
    """Write the combined files into output_dir; returns their names. DataDirError on duplicate ids."""
    for path in inputs:
        if not path.is_dir():
            raise DataDirError(f"{path}: not a dump dir")
    common = set(per_utterance_files(inputs[0]))
    for path in inputs[1:]:
        common &= set(per_utterance_files(path))
    for path in inputs:
        left_out = sorted(set(per_utterance_files(path)) - common)
        if left_out:
            logging.warning("%s: %s not in every input, left out of the combination", path, " ".join(left_out))
    if "wav.scp" not in common:
        raise DataDirError(f"not every input has wav.scp: {' '.join(map(str, inputs))}")
    owner: dict[str, Path] = {}
    for path in inputs:
        for utt in read_kv(path / "wav.scp"):
            if utt in owner:
                raise DataDirError(f"utterance {utt} is in both {owner[utt] / 'wav.scp'} and {path / 'wav.scp'}")
            owner[utt] = path
    output_dir.mkdir(parents=True, exist_ok=True)
    names = sorted(common)
    for stale in set(per_utterance_files(output_dir)) - common:
        logging.info("%s: removing %s left by an earlier combination", output_dir, stale)
        (output_dir / stale).unlink()
    for name in names:
        combined: dict[str, str] = {}
        for path in inputs:
            combined.update(read_kv(path / name))
        write_kv(output_dir / name, combined)
    validate_dump_dir(output_dir, names)
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("inputs", type=Path, nargs="+", help="dump dirs to combine")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    if args.output_dir.resolve() in {p.resolve() for p in args.inputs}:
        raise ConfigError(f"--output_dir {args.output_dir} is also an input")
    made_from = {str(p.resolve()): dump_fingerprint(p, per_utterance_files(p)) for p in args.inputs if p.is_dir()}
    record = Provenance(args.output_dir, "combine_data")
    if record.is_current(made_from, args.output_dir):
        return
    record.clear()
    names = combine(args.inputs, args.output_dir)
    record.save(made_from)
    logging.info("wrote %s: %s from %d dump dirs (%d utterances)", args.output_dir, " ".join(names),
                 len(args.inputs), len(read_kv(args.output_dir / "wav.scp")))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

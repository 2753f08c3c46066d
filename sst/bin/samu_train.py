"""Stage 3: SAMU distillation with ESPnet's trainer, then export of the encoder as a HF directory.

    python -m sst.bin.samu_train --config conf/tuning/train_samu.yaml \
        --train_dump dump/train_fr.de --valid_dump dump/dev_fr.de --output_dir exp/samu \
        --encoder_model facebook/wav2vec2-xls-r-300m [--ngpu 4 --multiprocessing_distributed true ...]

Any option not listed here is passed to ESPnet's trainer (``--ngpu``, ``--use_amp``, ``--max_epoch`` ...).
The trained encoder lands in ``<output_dir>/encoder_hf`` and loads with ``from_pretrained`` of the student's own class (``Wav2Vec2Model`` for XLS-R).
An experiment dir made from other data, config, trainer options or initial encoder stops with one line.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import kaldiio
import yaml

from sst.models.pretrained import load_feature_extractor
from sst.data.audio import speech_loader_type
from sst.models.checkpoints import best_checkpoint, trained_state
from sst.tasks.launch import (add_dump_arguments, claim_experiment, espnet_command, experiment_fingerprint,
                              is_main_process, run_espnet)
from sst.tasks.samu import SamuTask


def teacher_dim(dump_dir: Path) -> int:
    """The teacher embedding size, read from the first stored embedding."""
    with open(dump_dir / "teacher_embed.scp", encoding="utf-8") as scp:
        first = scp.readline().split(maxsplit=1)
    if len(first) != 2:
        raise ValueError(f"{dump_dir / 'teacher_embed.scp'} is empty: run sst.bin.embed_teacher first")
    return int(kaldiio.load_mat(first[1].strip()).shape[-1])


def export_encoder(exp_dir: Path, export_dir: Path) -> Path:
    """Save the distilled speech encoder (of its own class) of the best checkpoint with ``save_pretrained``; returns the checkpoint.

    The feature-extractor settings are copied from the encoder training started from.
    """
    checkpoint = best_checkpoint(exp_dir)
    config = yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8"))
    model, _ = SamuTask.build_model_from_file(exp_dir / "config.yaml", None, "cpu")
    model.load_state_dict(trained_state(exp_dir, checkpoint, model), strict=True)
    model.encoder.backbone.save_pretrained(export_dir)
    extractor = load_feature_extractor(config["model_conf"]["encoder_model"])
    extractor.save_pretrained(export_dir)
    (export_dir / "sst_export.txt").write_text(f"exported from {checkpoint}\n", encoding="utf-8")
    return checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dump_arguments(parser)
    parser.add_argument("--encoder_model", default=None,
                        help="XLS-R hub id or local HF dir (default: the config's model_conf)")
    parser.add_argument("--export_dir", type=Path, default=None, help="default: <output_dir>/encoder_hf")
    args, passthrough = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    data_files = ("wav.scp", "teacher_embed.scp", "speech_shape")
    claim_experiment(args.output_dir, experiment_fingerprint(args, data_files, {"encoder_model": args.encoder_model},
                                                             passthrough), "--samu_exp (--output_dir)")
    export_dir = args.export_dir or args.output_dir / "encoder_hf"
    if (export_dir / "sst_export.txt").exists():
        logging.info("%s already exported; delete it to train again", export_dir)
        return
    model_conf: dict[str, object] = {"teacher_dim": teacher_dim(args.train_dump)}
    if args.encoder_model:
        model_conf["encoder_model"] = args.encoder_model
    data = [("wav.scp", "speech", speech_loader_type(args.train_dump)), ("teacher_embed.scp", "teacher", "kaldi_ark")]
    cmd = espnet_command(args, data, ["speech_shape"], model_conf, passthrough)
    run_espnet(SamuTask, cmd)
    if is_main_process():
        checkpoint = export_encoder(args.output_dir, export_dir)
        logging.info("exported the SAMU encoder of %s to %s", checkpoint, export_dir)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

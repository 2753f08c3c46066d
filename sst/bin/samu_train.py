"""Stage 3: SAMU distillation with ESPnet's trainer, then export of the encoder as a HF directory.

    python -m sst.bin.samu_train --config conf/tuning/train_samu.yaml \
        --train_dump dump/train_fr.de --valid_dump dump/dev_fr.de --output_dir exp/samu \
        --encoder_model facebook/wav2vec2-xls-r-300m [--ngpu 4 --multiprocessing_distributed true ...]

``--objective ctc`` trains the control without semantics instead (sst.models.ctc_control): the same
student on the same data, fine-tuned with CTC on the transcripts' characters (no teacher embeddings needed;
the token list is written once to ``<output_dir>/tokens.txt``), exported the same way.

Any option not listed here is passed to ESPnet's trainer (``--ngpu``, ``--use_amp``, ``--max_epoch`` ...).
The trained encoder lands in ``<output_dir>/encoder_hf`` and loads with ``from_pretrained`` of the student's own class (``Wav2Vec2Model`` for XLS-R).
A SAMU export's ``config.json`` records the teacher under ``sst_teacher`` (id, dim, pooling, normalized, prefix:
the train dump's ``teacher_embed.json``).
An experiment dir made from other data, config, trainer options or initial encoder stops with one line.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import kaldiio
import yaml

from sst.io import DataDirError, read_kv
from sst.models.pretrained import load_feature_extractor
from sst.data.audio import speech_loader_type
from sst.models.checkpoints import best_checkpoint, trained_state
from sst.models.teacher import EXPORT_KEY
from sst.tasks.launch import (add_dump_arguments, claim_experiment, espnet_command, experiment_fingerprint,
                              is_main_process, run_espnet)
from sst.models.ctc_control import CharVocabulary, write_targets
from sst.tasks.base import ModelConfTask
from sst.tasks.ctc_control import CtcControlTask
from sst.tasks.samu import SamuTask

# The task of each --objective.
OBJECTIVES: dict[str, type[ModelConfTask]] = {"semantic": SamuTask, "ctc": CtcControlTask}


def first_embedding(dump_dir: Path) -> str:
    """The ark location (``path.ark:offset``) of the first stored teacher embedding."""
    with open(dump_dir / "teacher_embed.scp", encoding="utf-8") as scp:
        first = scp.readline().split(maxsplit=1)
    if len(first) != 2:
        raise DataDirError(f"{dump_dir / 'teacher_embed.scp'} is empty: run sst.bin.embed_teacher first")
    return first[1].strip()


def teacher_dim(dump_dir: Path) -> int:
    """The teacher embedding size, read from the first stored embedding."""
    return int(kaldiio.load_mat(first_embedding(dump_dir)).shape[-1])


def teacher_record(dump_dir: Path) -> dict[str, object]:
    """What the teacher embeddings of a dump dir are: the ``teacher_embed.json`` stage 2 wrote beside the
    ark of the first one (the dump dir's own, or an input's of a combined dump); only their size for
    embeddings made before that file existed."""
    description = Path(first_embedding(dump_dir).rsplit(":", 1)[0]).parent / "teacher_embed.json"
    if description.is_file():
        return json.loads(description.read_text(encoding="utf-8"))
    return {"dim": teacher_dim(dump_dir)}


def export_encoder(task: type[ModelConfTask], exp_dir: Path, export_dir: Path,
                   teacher: dict[str, object] | None = None) -> Path:
    """Save the trained speech encoder (of its own class) of ``task``'s model, best checkpoint, with
    ``save_pretrained``, its config recording ``teacher`` (under EXPORT_KEY) when given; returns the checkpoint.

    The feature-extractor settings are copied from the encoder training started from.
    """
    checkpoint = best_checkpoint(exp_dir)
    config = yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8"))
    model, _ = task.build_model_from_file(exp_dir / "config.yaml", None, "cpu")
    model.load_state_dict(trained_state(exp_dir, checkpoint, model), strict=True)
    if teacher is not None:
        setattr(model.encoder.backbone.config, EXPORT_KEY, teacher)
    model.encoder.backbone.save_pretrained(export_dir)
    extractor = load_feature_extractor(config["model_conf"]["encoder_model"])
    extractor.save_pretrained(export_dir)
    (export_dir / "sst_export.txt").write_text(f"exported from {checkpoint}\n", encoding="utf-8")
    return checkpoint


def ctc_targets(train_dump: Path, valid_dump: Path, exp_dir: Path) -> tuple[int, list[str]]:
    """The character vocabulary of the training transcripts (``<exp_dir>/tokens.txt``, made once) and the
    ESPnet options of the train/valid character targets it encodes (``<exp_dir>/ctc_targets/``)."""
    tokens = exp_dir / "tokens.txt"
    (exp_dir / "ctc_targets").mkdir(parents=True, exist_ok=True)
    if not tokens.is_file():
        CharVocabulary.from_texts(read_kv(train_dump / "transcript").values()).write(tokens)
    vocabulary = CharVocabulary.read(tokens)
    options = []
    for split, dump in (("train", train_dump), ("valid", valid_dump)):
        output = exp_dir / "ctc_targets" / f"{split}_text_int"
        write_targets(vocabulary, dump / "transcript", output)
        options += [f"--{split}_data_path_and_name_and_type", f"{output},text,text_int"]
    return len(vocabulary), options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dump_arguments(parser)
    parser.add_argument("--encoder_model", default=None,
                        help="XLS-R hub id or local HF dir (default: the config's model_conf)")
    parser.add_argument("--export_dir", type=Path, default=None, help="default: <output_dir>/encoder_hf")
    parser.add_argument("--objective", choices=tuple(OBJECTIVES), default="semantic",
                        help="semantic: distil toward the teacher embeddings (SAMU); ctc: the control without "
                             "semantics, CTC on the transcripts' characters [semantic]")
    args, passthrough = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    ctc = args.objective == "ctc"
    data_files = ("wav.scp", "transcript" if ctc else "teacher_embed.scp", "speech_shape")
    made_from = experiment_fingerprint(args, data_files, {"encoder_model": args.encoder_model}, passthrough)
    if ctc:  # recorded only when not the default, so that experiments made before the option stay valid
        made_from["objective"] = args.objective
    claim_experiment(args.output_dir, made_from, "--samu_exp (--output_dir)")
    export_dir = args.export_dir or args.output_dir / "encoder_hf"
    if (export_dir / "sst_export.txt").exists():
        logging.info("%s already exported; delete it to train again", export_dir)
        return
    speech = ("wav.scp", "speech", speech_loader_type(args.train_dump))
    if ctc:
        vocab_size, targets = ctc_targets(args.train_dump, args.valid_dump, args.output_dir)
        model_conf: dict[str, object] = {"vocab_size": vocab_size}
        data = [speech]
    else:
        model_conf = {"teacher_dim": teacher_dim(args.train_dump)}
        data, targets = [speech, ("teacher_embed.scp", "teacher", "kaldi_ark")], []
    if args.encoder_model:
        model_conf["encoder_model"] = args.encoder_model
    cmd = espnet_command(args, data, ["speech_shape"], model_conf, passthrough) + targets
    task = OBJECTIVES[args.objective]
    run_espnet(task, cmd)
    if is_main_process():
        checkpoint = export_encoder(task, args.output_dir, export_dir,
                                    None if ctc else teacher_record(args.train_dump))
        logging.info("exported the %s encoder of %s to %s", "CTC control" if ctc else "SAMU", checkpoint, export_dir)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

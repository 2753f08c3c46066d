"""Stage 4: adapter speech translation with ESPnet's trainer, then packing of the trained model.

    python -m sst.bin.st_train --config conf/tuning/train_st_samu_adapter.yaml \
        --train_dump dump/train_fr.de --valid_dump dump/dev_fr.de --output_dir exp/st_samu_adapter \
        --encoder_model exp/samu/encoder_hf --decoder_model facebook/mbart-large-50-many-to-many-mmt

Any option not listed here goes to ESPnet's trainer (``--ngpu``, ``--use_amp``, ``--max_epoch`` ...).
With ``--target_vocabulary`` (or ``model_conf.target_vocabulary`` in the config) the model keeps only
that vocabulary's output rows and trains on the dumps' ``text_int_trimmed`` (sst.bin.target_vocab).
The result is packed into ``<output_dir>/packed`` for decoding and ``sst.bin.translate``: with ``--pack
adapters`` (the default) the trained tensors only, over the encoder and decoder bases it names (checked by
digest when loaded), with ``--pack full`` every weight (self-contained, for machines without the bases);
see sst.models.packing. Run again with the other ``--pack``, it repacks without training. An experiment
dir made from other data, config, trainer options or initial models is never reused: that stops with
one line (see sst.tasks.launch.claim_experiment).
"""
from __future__ import annotations

import argparse
import logging


from sst.data.audio import speech_loader_type
from sst.io import existing_dir, read_yaml
from sst.models.checkpoints import best_checkpoint
from sst.models.packing import DEFAULT_KIND, KINDS, PACKED, pack, package_kind, packable_kind
from sst.models.vocabulary import TRIMMED, check_trimmed_targets
from sst.tasks.launch import (add_dump_arguments, claim_experiment, espnet_command, experiment_fingerprint,
                              is_main_process, run_espnet)
from sst.tasks.st import STTask


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dump_arguments(parser)
    parser.add_argument("--encoder_model", default=None, help="HF speech-encoder dir or id (SAMU export, XLS-R, HuBERT, WavLM, data2vec-audio, w2v-BERT 2.0)")
    parser.add_argument("--decoder_model", default=None, help="mBART-50 dir or hub id")
    parser.add_argument("--target_vocabulary", default=None,
                        help="trimmed target vocabulary file (sst.bin.target_vocab); default: the config's, else none")
    parser.add_argument("--pack", choices=KINDS, default=DEFAULT_KIND,
                        help="package kind: adapters = the trained tensors + the bases' ids/paths and digests "
                             "(about a tenth of the size; needs the bases where the package is loaded), full = "
                             f"every weight, self-contained [{DEFAULT_KIND}]")
    args, passthrough = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    config_conf = (read_yaml(args.config) or {}).get("model_conf") or {}
    vocabulary = args.target_vocabulary or config_conf.get("target_vocabulary")
    targets = TRIMMED if vocabulary else "text_int"
    data_files = ("wav.scp", targets, "speech_shape", "text_shape")
    claim_experiment(args.output_dir, experiment_fingerprint(args, data_files, {"encoder_model": args.encoder_model,
                     "decoder_model": args.decoder_model}, passthrough, {"target_vocabulary": args.target_vocabulary}),
                     "--st_exp (--output_dir)")
    packed = package_kind(existing_dir(args.output_dir / PACKED))  # aside, if a repacking was killed midway
    if packed is not None and packed == packable_kind(args.output_dir, args.pack):
        logging.info("%s already packed; delete it to train again", args.output_dir / PACKED)
        return
    if packed is not None:  # trained already: only the package kind changes
        logging.info("%s: %s package, repacking it as %s", args.output_dir / PACKED, packed, args.pack)
        pack(args.output_dir, best_checkpoint(args.output_dir), args.pack)
        return
    if vocabulary:
        for dump in (args.train_dump, args.valid_dump):
            check_trimmed_targets(dump, TRIMMED, vocabulary)
    model_conf = {key: value for key, value in (("encoder_model", args.encoder_model),
                                                ("decoder_model", args.decoder_model),
                                                ("target_vocabulary", args.target_vocabulary)) if value}
    data = [("wav.scp", "speech", speech_loader_type(args.train_dump)), (targets, "text", "text_int")]
    cmd = espnet_command(args, data, ["speech_shape", "text_shape"], model_conf, passthrough)
    run_espnet(STTask, cmd)
    if is_main_process():
        out = pack(args.output_dir, best_checkpoint(args.output_dir), args.pack)
        logging.info("packed the trained model into %s (%s)", out, args.pack)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

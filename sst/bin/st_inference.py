"""Stage 5: batched beam-search decoding of dump dirs with a packed speech-translation model.

    python -m sst.bin.st_inference --model_dir exp/st_x --dump_dir dump/test_fr_en dump/test_de_en \
        --output_dir exp/st_x/decode_test/test_fr_en exp/st_x/decode_test/test_de_en \
        --config conf/decode_st.yaml --nj 2

Writes ``hyp`` (detokenised), ``ref``, ``utt2lang`` and ``utt2tgt_lang`` into each output dir for
scoring. The utterances of all the dump dirs still to decode are pooled, sorted by length (from the
dumps' ``speech_shape``) and cut into batches of at most ``batch_size`` utterances and ``batch_bins``
padded audio samples; audio is read batch by batch, so memory does not grow with the set. ``--nj``
deals the batches out to processes (one GPU each with ``--ngpu``), each loading the model once
(sst.inference.dump_decoding).

Hypotheses are appended to ``<output_dir>/partial/`` as each batch finishes; a run that was killed
decodes, when started again, only the utterances missing there, in the batches an uninterrupted run
would have used, so its ``hyp`` is the same. ``hyp`` is written last. An output dir is skipped when it
was made from the same packed model, decoding options and dump (sst.data.provenance); when any of them
changed, it is decoded again from scratch (partial hypotheses of other inputs are dropped).
``--quantize int8`` decodes with int8 linear layers on the CPU (sst.inference.quantize); it counts as a
decoding option in that record, so int8 never reuses fp32 hypotheses or the other way round.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.inference.dump_decoding import decode_dump_dirs
from sst.inference.options import add_decode_options, decode_options
from sst.inference.quantize import add_quantize_option


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", type=Path, required=True, help="experiment dir holding packed/")
    parser.add_argument("--dump_dir", type=Path, nargs="+", required=True, help="dump dir(s) to decode")
    parser.add_argument("--output_dir", type=Path, nargs="+", required=True, help="one output dir per --dump_dir")
    parser.add_argument("--nj", type=int, default=1, help="parallel decoding processes")
    parser.add_argument("--ngpu", type=int, default=0, help="GPUs to spread the processes over")
    add_decode_options(parser)
    add_quantize_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.dump_dir) != len(args.output_dir):
        parser.error(f"{len(args.dump_dir)} --dump_dir but {len(args.output_dir)} --output_dir; give one output per input")

    decode_dump_dirs(args.model_dir, args.dump_dir, args.output_dir, decode_options(args), args.nj, args.ngpu,
                     args.quantize)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

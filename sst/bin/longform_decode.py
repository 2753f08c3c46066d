"""Long-form decoding: translate whole recordings (segmented by the VAD), re-segment to the references.

    python -m sst.bin.longform_decode --model_dir exp/st_x --data_dir data/test_fr_en \
        --output_dir exp/st_x/decode_st_longform/test_fr_en --config conf/decode_st.yaml [--vad_max_segment 20]

The data dir is a stage-1 dir with ``segments`` (Europarl-ST: one m4a per speech): its recordings are
translated whole as ``sst.bin.translate`` does (sst.inference.longform) (VAD segments decoded in length-sorted batches; the gold
``segments`` are not used), each into ``<output_dir>/vad/<recording>.json`` (JSON Lines of the VAD
segments, written when the recording is done, so a killed run resumes at the next one). The hypotheses
of each recording are then re-segmented to its reference segments by minimum-WER alignment
(``sst.inference.resegment``, as IWSLT scores), and ``hyp``, ``ref``, ``utt2lang`` and ``utt2tgt_lang`` are
written as stage 5 writes them, keyed by the reference utterances, for ``sst.bin.score``.
Inputs, model and settings are fingerprinted: a rerun with the same ones does nothing, a changed one
starts over.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.inference.longform import decode_longform
from sst.inference.options import add_decode_options, decode_options
from sst.inference.quantize import add_quantize_option
from sst.inference.vad import add_vad_options, vad_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", type=Path, required=True, help="experiment dir holding packed/")
    parser.add_argument("--data_dir", type=Path, nargs="+", required=True, help="stage-1 data dir(s) with segments")
    parser.add_argument("--output_dir", type=Path, nargs="+", required=True, help="one decode dir per --data_dir")
    add_vad_options(parser)
    add_decode_options(parser)
    add_quantize_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.data_dir) != len(args.output_dir):
        parser.error(f"{len(args.data_dir)} --data_dir but {len(args.output_dir)} --output_dir")
    for data_dir in args.data_dir:
        if not (data_dir / "segments").is_file():
            parser.error(f"{data_dir}: no segments file; long-form scoring needs the reference segments")
    decode_longform(args.model_dir, args.data_dir, args.output_dir, decode_options(args), vad_config(args), args.quantize)


if __name__ == "__main__":
    main()

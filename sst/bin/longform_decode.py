"""Long-form decoding: translate whole recordings (segmented by the VAD), re-segment to the references.

    python -m sst.bin.longform_decode --model_dir exp/st_x --data_dir data/test_fr_en \
        --output_dir exp/st_x/decode_st_longform/test_fr_en --config conf/decode_st.yaml [--vad_max_segment 20]

The data dir is a stage-1 dir with ``segments`` (Europarl-ST: one m4a per speech): its recordings are
translated whole as ``sst.bin.translate`` does (VAD segments decoded in length-sorted batches; the gold
``segments`` are not used), each into ``<output_dir>/vad/<recording>.json`` (JSON Lines of the VAD
segments, written when the recording is done, so a killed run resumes at the next one). The hypotheses
of each recording are then re-segmented to its reference segments by minimum-WER alignment
(``sst.eval.resegment``, as IWSLT scores), and ``hyp``, ``ref``, ``utt2lang`` and ``utt2tgt_lang`` are
written as stage 5 writes them, keyed by the reference utterances, for ``sst.bin.score``.
Inputs, model and settings are fingerprinted: a rerun with the same ones does nothing, a changed one
starts over.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path

import torch

from sst.bin.st_inference import add_decode_options, decode_options, write_sorted
from sst.bin.translate import NoSpeech, translate_recording
from sst.data.audio import AudioDecodeError
from sst.data.datadir import validate_data_dir
from sst.data.longform import TranscriptWriter, add_vad_options, load_vad, vad_config
from sst.data.provenance import Provenance, file_digest, model_fingerprint, text_digest
from sst.eval.resegment import resegment
from sst.models.packing import PACKED, load_packed

FORMAT_VERSION = 1


def _audio_digest(paths: list[Path]) -> str:
    """A digest of the recordings' paths, sizes and mtimes (their bytes are hours of audio)."""
    return text_digest([(str(p), p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (str(p), None)
                        for p in paths])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", type=Path, required=True, help="experiment dir holding packed/")
    parser.add_argument("--data_dir", type=Path, nargs="+", required=True, help="stage-1 data dir(s) with segments")
    parser.add_argument("--output_dir", type=Path, nargs="+", required=True, help="one decode dir per --data_dir")
    add_vad_options(parser)
    add_decode_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.data_dir) != len(args.output_dir):
        parser.error(f"{len(args.data_dir)} --data_dir but {len(args.output_dir)} --output_dir")
    options, config = decode_options(args), vad_config(args)
    model = tokenizer = vad = None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for data_dir, output_dir in zip(args.data_dir, args.output_dir):
        data = validate_data_dir(data_dir)
        if data.segments is None:
            parser.error(f"{data_dir}: no segments file; long-form scoring needs the reference segments")
        audio_files = [Path(data.wav_scp[recording]) for recording in sorted(data.wav_scp)]
        made_from = {"audio": _audio_digest(audio_files), "wav.scp": file_digest(data_dir / "wav.scp"),
                     "segments": file_digest(data_dir / "segments"), "version": FORMAT_VERSION, "options": options,
                     "vad": vars(config), "model": model_fingerprint(args.model_dir / PACKED
                                                                  if (args.model_dir / PACKED).is_dir() else args.model_dir)}
        if Provenance(output_dir, "longform_decode").is_current(made_from, output_dir) and (output_dir / "hyp").is_file():
            continue
        Provenance(output_dir, "longform_decode").clear()
        vad_dir = output_dir / "vad"  # the per-recording results in vad/ are kept across a kill
        Provenance(output_dir, "vad").keep_work_if_current(made_from, vad_dir)
        vad_dir.mkdir(parents=True, exist_ok=True)
        by_recording: dict[str, list[str]] = {}
        for utt in sorted(data.segments, key=lambda u: (data.segments[u].recording, data.segments[u].start)):
            by_recording.setdefault(data.segments[utt].recording, []).append(utt)
        hyp: dict[str, str] = {}
        failed = 0
        for recording, utts in sorted(by_recording.items()):
            result = vad_dir / f"{recording}.json"
            if not result.is_file():
                model, tokenizer = (model, tokenizer) if model is not None else load_packed(args.model_dir, device)
                vad = vad or load_vad()
                buffer = io.StringIO()
                try:
                    translate_recording(Path(data.wav_scp[recording]), model, tokenizer, vad,
                                        data.utt2tgt_lang[utts[0]], options, device, config,
                                        TranscriptWriter(buffer, "json", recording), progress=False)
                except (AudioDecodeError, NoSpeech) as error:
                    logging.warning("%s: recording %s: %s; its %d segments get empty hypotheses",
                                    data_dir, recording, error, len(utts))
                    failed += 1
                tmp = result.with_name(result.name + ".tmp")
                tmp.write_text(buffer.getvalue(), encoding="utf-8")
                tmp.replace(result)
            segments = [json.loads(line)["text"] for line in result.read_text(encoding="utf-8").splitlines()]
            hyp.update(zip(utts, resegment(segments, [data.translation(utt) for utt in utts])))
        write_sorted(output_dir / "hyp", hyp)
        write_sorted(output_dir / "ref", {utt: data.translation(utt) for utt in hyp})
        write_sorted(output_dir / "utt2lang", {utt: data.utt2lang[utt] for utt in hyp})
        write_sorted(output_dir / "utt2tgt_lang", {utt: data.utt2tgt_lang[utt] for utt in hyp})
        Provenance(output_dir, "longform_decode").save(made_from)
        logging.info("wrote %s (%d recordings, %d of them unreadable or silent; %d reference segments)",
                     output_dir, len(by_recording), failed, len(hyp))


if __name__ == "__main__":
    main()

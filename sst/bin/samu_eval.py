"""Stage 3 check: speech<->text retrieval with the distilled SAMU encoder, into <model_dir>/RESULTS.md.

    python -m sst.bin.samu_eval --model_dir exp/samu_train_samu --teacher_model sentence-transformers/LaBSE \
        --dump_dirs dump/dev_fr_en dump/dev_de_en

For every dump dir, the utterances' SAMU embeddings retrieve (and are retrieved by) the teacher's
embeddings of their transcripts, and of their translations (cross-lingual retrieval, as in the
SAMU-XLS-R paper). With several dump dirs, a last row pools the transcripts of all of them, so each
utterance must find its own sentence among texts of every language. The figures also go to
``<model_dir>/retrieval.json``; a re-run with the same checkpoint, teacher and sets does nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import yaml
from tqdm import tqdm

from sst.data.audio import dumped_lengths, read_dumped
from sst.data.provenance import Provenance, dump_fingerprint, file_digest, model_fingerprint
from sst.inference.batching import length_sorted_batches, padded_batches
from sst.io import DataDirError, read_kv
from sst.eval.retrieval import RetrievalResult, evaluate_retrieval, write_retrieval_section
from sst.models.architectures import LABSE
from sst.models.checkpoints import best_checkpoint, trained_state
from sst.models.hub import ModelNotFoundError
from sst.models.samu import SamuModel
from sst.models.teacher import embed_texts, exported_teacher, load_teacher

HEADING = "## SAMU retrieval"


def load_samu(model_dir: Path, device: str = "cpu") -> tuple[SamuModel, Path]:
    """The trained SAMU model of an experiment dir (its best checkpoint) in eval mode, and that checkpoint.

    The architecture comes from the exported ``encoder_hf`` config, so nothing is fetched from the hub.
    """
    checkpoint = best_checkpoint(model_dir)
    config = yaml.safe_load((model_dir / "config.yaml").read_text(encoding="utf-8"))
    encoder_dir = model_dir / "encoder_hf"
    if not (encoder_dir / "config.json").is_file():
        raise ModelNotFoundError(f"{encoder_dir} is missing: stage 3 training has not finished")
    model_conf = {**config["model_conf"], "encoder_model": str(encoder_dir), "pretrained": False}
    model = SamuModel(**model_conf)
    model.load_state_dict(trained_state(model_dir, checkpoint, model), strict=True)
    return model.to(device).eval(), checkpoint


@torch.no_grad()
def embed_speech(model: SamuModel, wavs: dict[str, str], lengths: Mapping[str, int], batch_size: int = 16,
                 batch_bins: int = 4000000, device: str = "cpu") -> dict[str, np.ndarray]:
    """SAMU embeddings of 16 kHz dumped audio (id -> FLAC path or ark entry) of known ``lengths``, read
    batch by batch in length order; returns id -> vector."""
    batches = length_sorted_batches({utt: lengths[utt] for utt in wavs}, batch_bins, batch_size)
    embeddings: dict[str, np.ndarray] = {}
    for batch, speech, lengths_ in tqdm(padded_batches(batches, lambda utt: read_dumped(wavs[utt])),
                                        total=len(batches), desc="SAMU embeddings", leave=False):
        vectors = model.embed(speech.to(device), lengths_.to(device)).float().cpu().numpy()
        embeddings.update(zip(batch, vectors))
    return embeddings


def evaluate_sets(model: SamuModel, teacher, dump_dirs: list[Path], batch_size: int, batch_bins: int,
                  device: str, prefix: str = "") -> dict[str, RetrievalResult]:
    """Retrieval results per set and text side (transcript / translation, embedded after the teacher's text
    ``prefix``), plus the pooled transcripts."""
    results: dict[str, RetrievalResult] = {}
    pooled_speech, pooled_text = [], []
    for dump_dir in dump_dirs:
        wavs = read_kv(dump_dir / "wav.scp")
        utts = sorted(wavs)
        speech = embed_speech(model, wavs, dumped_lengths(dump_dir, wavs), batch_size, batch_bins, device)
        speech_matrix = np.stack([speech[u] for u in utts])
        for field in ("transcript", "translation"):
            texts = read_kv(dump_dir / field)
            missing = [u for u in utts if u not in texts]
            if missing:
                raise DataDirError(f"{dump_dir / field}: no text for utterance {missing[0]} ({len(missing)} in all)")
            text_matrix = embed_texts(teacher, [texts[u] for u in utts], batch_size, prefix)
            results[f"{dump_dir.name} speech↔{field}"] = evaluate_retrieval(speech_matrix, text_matrix)
            if field == "transcript":
                pooled_speech.append(speech_matrix)
                pooled_text.append(text_matrix)
        logging.info("%s: %s", dump_dir.name, "; ".join(
            f"{name.split(' ')[1]} S→T R@1 {100 * r.speech_to_text[1]:.1f}%"
            for name, r in results.items() if name.startswith(f"{dump_dir.name} ")))
    if len(dump_dirs) > 1:
        results["all sets, pooled transcripts"] = evaluate_retrieval(np.concatenate(pooled_speech),
                                                                     np.concatenate(pooled_text))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", type=Path, required=True, help="SAMU experiment dir (stage 3 output)")
    parser.add_argument("--teacher_model", default=LABSE,
                        help="the sentence-transformers teacher of stage 2 (hub id or local dir)")
    parser.add_argument("--dump_dirs", type=Path, nargs="+", required=True, help="dev dump dirs to evaluate on")
    parser.add_argument("--batch_size", type=int, default=16, help="most utterances (and texts) per batch")
    parser.add_argument("--batch_bins", type=int, default=4000000, help="most padded audio samples per batch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    device = "cuda" if torch.cuda.is_available() else "cpu"
    report = args.model_dir / "retrieval.json"
    checkpoint = best_checkpoint(args.model_dir)
    wanted = {"checkpoint": str(checkpoint), "teacher_model": args.teacher_model,
              "dump_dirs": [str(d) for d in args.dump_dirs]}
    made_from = {"checkpoint": file_digest(checkpoint), "teacher": model_fingerprint(args.teacher_model),
                 "dumps": [dump_fingerprint(d, ("wav.scp", "transcript", "translation")) for d in args.dump_dirs]}
    record = Provenance(args.model_dir, "samu_eval")
    if record.is_current(made_from, report) and report.is_file():
        return
    model, _ = load_samu(args.model_dir, device)
    teacher = load_teacher(args.teacher_model)
    prefix = str(exported_teacher(args.model_dir / "encoder_hf").get("prefix", ""))  # that of the embeddings
    results = evaluate_sets(model, teacher, args.dump_dirs, args.batch_size, args.batch_bins, device, prefix)
    command = " ".join(["python -m sst.bin.samu_eval", *(argv if argv is not None else sys.argv[1:])])
    section = write_retrieval_section(args.model_dir / "RESULTS.md", results, heading=HEADING, command=command)
    report.write_text(json.dumps({**wanted, "results": {name: r.to_dict() for name, r in results.items()}},
                                 indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    record.save(made_from)
    print(section)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

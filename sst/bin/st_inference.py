"""Stage 5: batched beam-search decoding of a dump dir with a packed speech-translation model.

    python -m sst.bin.st_inference --model_dir exp/st_x --dump_dir dump/test_fr_en \
        --output_dir exp/st_x/decode_test/test_fr_en --config conf/decode_st.yaml --nj 2

Writes ``hyp`` (detokenised), ``ref``, ``utt2lang`` and ``utt2tgt_lang`` for scoring. Utterances are
sorted by length and decoded ``batch_size`` at a time; ``--nj`` splits them over processes (one GPU
each with ``--ngpu``).
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import soundfile
import torch
import torch.multiprocessing as mp
import yaml
from espnet2.fileio.read_text import read_2columns_text
from tqdm import tqdm

from sst.data.langs import mbart_code
from sst.models.packing import load_packed
from sst.models.pretrained import language_token_id

DECODE_DEFAULTS = {"beam_size": 5, "length_penalty": 1.0, "max_length": 200, "max_len_ratio": 0.0,
                   "batch_size": 16}


def decode_utterances(model, tokenizer, wavs: dict[str, str], tgt_langs: dict[str, str],
                      options: dict, device: str = "cpu", progress: bool = True) -> dict[str, str]:
    """Translate the utterances of ``wavs`` (id -> 16 kHz audio path); returns id -> hypothesis."""
    audio = {utt: soundfile.read(path, dtype="float32")[0] for utt, path in wavs.items()}
    order = sorted(audio, key=lambda utt: len(audio[utt]), reverse=True)
    batch_size = int(options["batch_size"])
    hypotheses: dict[str, str] = {}
    for start in tqdm(range(0, len(order), batch_size), desc="decoding", disable=not progress):
        batch = order[start:start + batch_size]
        lengths = torch.tensor([len(audio[u]) for u in batch])
        speech = torch.zeros(len(batch), int(lengths.max()))
        for row, utt in enumerate(batch):
            speech[row, : len(audio[utt])] = torch.from_numpy(audio[utt])
        languages = torch.tensor([language_token_id(tokenizer, mbart_code(tgt_langs[u])) for u in batch])
        outputs = model.translate(speech.to(device), lengths.to(device), languages.to(device),
                                  beam_size=int(options["beam_size"]),
                                  length_penalty=float(options["length_penalty"]),
                                  max_length=int(options["max_length"]),
                                  max_len_ratio=float(options["max_len_ratio"]))
        for utt, ids in zip(batch, outputs):
            hypotheses[utt] = tokenizer.decode(ids, skip_special_tokens=True).strip()
    return hypotheses


def _decode_shard(rank: int, model_dir: Path, shards: list[dict[str, str]], tgt_langs: dict[str, str],
                  options: dict, ngpu: int, threads: int, results: dict) -> None:
    torch.set_num_threads(threads)
    device = f"cuda:{rank % ngpu}" if ngpu > 0 else "cpu"
    model, tokenizer = load_packed(model_dir, device)
    results[rank] = decode_utterances(model, tokenizer, shards[rank], tgt_langs, options, device,
                                      progress=rank == 0)


def write_sorted(path: Path, mapping: dict[str, str]) -> None:
    """Write ``key value`` lines sorted by key."""
    path.write_text("".join(f"{key} {mapping[key]}\n" for key in sorted(mapping)), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", type=Path, required=True, help="experiment dir holding packed/")
    parser.add_argument("--dump_dir", type=Path, required=True)
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None, help="decoding YAML (conf/decode_st.yaml)")
    parser.add_argument("--nj", type=int, default=1, help="parallel decoding processes")
    parser.add_argument("--ngpu", type=int, default=0, help="GPUs to spread the processes over")
    for key, value in DECODE_DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=None, help=f"overrides the config (default {value})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    options = dict(DECODE_DEFAULTS)
    if args.config:
        options.update(yaml.safe_load(args.config.read_text(encoding="utf-8")) or {})
    options.update({k: getattr(args, k) for k in DECODE_DEFAULTS if getattr(args, k) is not None})
    wavs = read_2columns_text(args.dump_dir / "wav.scp")
    hyp_file = args.output_dir / "hyp"
    if hyp_file.exists() and set(read_2columns_text(hyp_file)) == set(wavs):
        logging.info("%s already holds every hypothesis, nothing to do", hyp_file)
        return
    tgt_langs = read_2columns_text(args.dump_dir / "utt2tgt_lang")
    args.output_dir.mkdir(parents=True, exist_ok=True)

    nj = max(1, min(args.nj, len(wavs)))
    utts = sorted(wavs)
    shards = [{u: wavs[u] for u in utts[i::nj]} for i in range(nj)]
    logging.info("decoding %d utterances of %s in %d job(s) with %s", len(utts), args.dump_dir, nj, options)
    threads = max(1, (os.cpu_count() or 1) // nj)
    if nj == 1:
        results: dict = {}
        _decode_shard(0, args.model_dir, shards, tgt_langs, options, args.ngpu, threads, results)
    else:
        with mp.get_context("spawn").Manager() as manager:
            shared = manager.dict()
            mp.spawn(_decode_shard, args=(args.model_dir, shards, tgt_langs, options, args.ngpu, threads, shared),
                     nprocs=nj, join=True)
            results = dict(shared)
    hypotheses = {utt: hyp for shard in results.values() for utt, hyp in shard.items()}

    write_sorted(args.output_dir / "ref", read_2columns_text(args.dump_dir / "translation"))
    for name in ("utt2lang", "utt2tgt_lang"):
        write_sorted(args.output_dir / name, read_2columns_text(args.dump_dir / name))
    write_sorted(hyp_file, hypotheses)
    logging.info("wrote %s (%d hypotheses)", hyp_file, len(hypotheses))


if __name__ == "__main__":
    main()

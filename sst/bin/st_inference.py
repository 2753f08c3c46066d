"""Stage 5: batched beam-search decoding of dump dirs with a packed speech-translation model.

    python -m sst.bin.st_inference --model_dir exp/st_x --dump_dir dump/test_fr_en dump/test_de_en \
        --output_dir exp/st_x/decode_test/test_fr_en exp/st_x/decode_test/test_de_en \
        --config conf/decode_st.yaml --nj 2

Writes ``hyp`` (detokenised), ``ref``, ``utt2lang`` and ``utt2tgt_lang`` into each output dir for
scoring. The utterances of all the dump dirs still to decode are pooled, sorted by length and decoded
``batch_size`` at a time; ``--nj`` splits them over processes (one GPU each with ``--ngpu``), each
loading the model once. An output dir is skipped when it was made from the same packed model, decoding
options and dump (sst.data.provenance), and decoded again when any of them changed.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Hashable

import numpy as np
import soundfile
import torch
import torch.multiprocessing as mp
import yaml
from espnet2.fileio.read_text import read_2columns_text
from tqdm import tqdm

from sst.data.audio import padded_batches
from sst.data.langs import mbart_code
from sst.data.provenance import Provenance, dump_fingerprint, model_fingerprint
from sst.models.packing import PACKED, load_packed
from sst.models.pretrained import language_token_id

DECODE_DEFAULTS = {"beam_size": 5, "length_penalty": 1.0, "max_length": 200, "max_len_ratio": 0.0,
                   "batch_size": 16}
# The dump files a decode dir is made from (with the dump's provenance records).
DECODE_INPUTS = ("wav.scp", "utt2tgt_lang", "translation", "utt2lang")
# (index of the dump dir, utterance id): utterance ids need not be unique across dump dirs
Key = tuple[int, str]


def add_decode_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` (decoding YAML) and one override option per decoding setting."""
    parser.add_argument("--config", type=Path, default=None, help="decoding YAML (conf/decode_st.yaml)")
    for key, value in DECODE_DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=None, help=f"overrides the config (default {value})")


def decode_options(args: argparse.Namespace) -> dict:
    """The decoding settings: defaults, then the config file, then command-line overrides."""
    options = dict(DECODE_DEFAULTS)
    if args.config:
        options.update(yaml.safe_load(args.config.read_text(encoding="utf-8")) or {})
    unknown = set(options) - set(DECODE_DEFAULTS)
    if unknown:
        raise ValueError(f"{args.config}: unknown decoding settings {sorted(unknown)}; known: {sorted(DECODE_DEFAULTS)}")
    options.update({k: getattr(args, k) for k in DECODE_DEFAULTS if getattr(args, k) is not None})
    return options


def decode_utterances(model, tokenizer, audio: dict[Hashable, np.ndarray], tgt_langs: dict[Hashable, str],
                      options: dict, device: str = "cpu", progress: bool = True) -> dict[Hashable, str]:
    """Translate ``audio`` (key -> 16 kHz mono waveform); returns key -> hypothesis."""
    batch_size = int(options["batch_size"])
    hypotheses: dict[Hashable, str] = {}
    for batch, speech, lengths in tqdm(padded_batches(audio, batch_size), total=-(-len(audio) // batch_size),
                                       desc="decoding", disable=not progress):
        languages = torch.tensor([language_token_id(tokenizer, mbart_code(tgt_langs[u])) for u in batch])
        outputs = model.translate(speech.to(device), lengths.to(device), languages.to(device),
                                  beam_size=int(options["beam_size"]),
                                  length_penalty=float(options["length_penalty"]),
                                  max_length=int(options["max_length"]),
                                  max_len_ratio=float(options["max_len_ratio"]))
        for utt, ids in zip(batch, outputs):
            hypotheses[utt] = tokenizer.decode(ids, skip_special_tokens=True).strip()
    return hypotheses


def _decode_shard(rank: int, model_dir: Path, shards: list[dict[Key, str]], tgt_langs: dict[Key, str],
                  options: dict, ngpu: int, threads: int, results: dict) -> None:
    torch.set_num_threads(threads)
    device = f"cuda:{rank % ngpu}" if ngpu > 0 else "cpu"
    model, tokenizer = load_packed(model_dir, device)
    audio = {utt: soundfile.read(path, dtype="float32")[0] for utt, path in shards[rank].items()}
    results[rank] = decode_utterances(model, tokenizer, audio, tgt_langs, options, device,
                                      progress=rank == 0)


def write_sorted(path: Path, mapping: dict[str, str]) -> None:
    """Write ``key value`` lines sorted by key."""
    path.write_text("".join(f"{key} {mapping[key]}\n" for key in sorted(mapping)), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", type=Path, required=True, help="experiment dir holding packed/")
    parser.add_argument("--dump_dir", type=Path, nargs="+", required=True, help="dump dir(s) to decode")
    parser.add_argument("--output_dir", type=Path, nargs="+", required=True, help="one output dir per --dump_dir")
    parser.add_argument("--nj", type=int, default=1, help="parallel decoding processes")
    parser.add_argument("--ngpu", type=int, default=0, help="GPUs to spread the processes over")
    add_decode_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if len(args.dump_dir) != len(args.output_dir):
        parser.error(f"{len(args.dump_dir)} --dump_dir but {len(args.output_dir)} --output_dir; give one output per input")

    options = decode_options(args)
    wavs: dict[Key, str] = {}
    tgt_langs: dict[Key, str] = {}
    pending = []
    model = model_fingerprint(args.model_dir / PACKED)
    made_from = {index: {"model": model, "options": options, "dump": dump_fingerprint(dump_dir, DECODE_INPUTS)}
                 for index, dump_dir in enumerate(args.dump_dir)}
    for index, (dump_dir, output_dir) in enumerate(zip(args.dump_dir, args.output_dir)):
        set_wavs = read_2columns_text(dump_dir / "wav.scp")
        hyp_file = output_dir / "hyp"
        if Provenance(output_dir, "st_inference").is_current(made_from[index], hyp_file) and hyp_file.exists():
            continue
        Provenance(output_dir, "st_inference").clear()
        pending.append(index)
        wavs.update({(index, utt): path for utt, path in set_wavs.items()})
        tgt_langs.update({(index, utt): lang for utt, lang in read_2columns_text(dump_dir / "utt2tgt_lang").items()})
    if not pending:
        return

    nj = max(1, min(args.nj, len(wavs)))
    keys = sorted(wavs)
    shards = [{key: wavs[key] for key in keys[i::nj]} for i in range(nj)]
    logging.info("decoding %d utterances of %s in %d job(s) with %s", len(keys),
                 " ".join(str(args.dump_dir[i]) for i in pending), nj, options)
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
    hypotheses = {key: hyp for shard in results.values() for key, hyp in shard.items()}

    for index in pending:
        dump_dir, output_dir = args.dump_dir[index], args.output_dir[index]
        output_dir.mkdir(parents=True, exist_ok=True)
        write_sorted(output_dir / "ref", read_2columns_text(dump_dir / "translation"))
        for name in ("utt2lang", "utt2tgt_lang"):
            write_sorted(output_dir / name, read_2columns_text(dump_dir / name))
        set_hypotheses = {utt: hyp for (i, utt), hyp in hypotheses.items() if i == index}
        write_sorted(output_dir / "hyp", set_hypotheses)
        Provenance(output_dir, "st_inference").save(made_from[index])
        logging.info("wrote %s (%d hypotheses)", output_dir / "hyp", len(set_hypotheses))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

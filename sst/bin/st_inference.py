"""Stage 5: batched beam-search decoding of dump dirs with a packed speech-translation model.

    python -m sst.bin.st_inference --model_dir exp/st_x --dump_dir dump/test_fr_en dump/test_de_en \
        --output_dir exp/st_x/decode_test/test_fr_en exp/st_x/decode_test/test_de_en \
        --config conf/decode_st.yaml --nj 2

Writes ``hyp`` (detokenised), ``ref``, ``utt2lang`` and ``utt2tgt_lang`` into each output dir for
scoring. The utterances of all the dump dirs still to decode are pooled, sorted by length (from the
dumps' ``speech_shape``) and cut into batches of at most ``batch_size`` utterances and ``batch_bins``
padded audio samples; audio is read batch by batch, so memory does not grow with the set. ``--nj``
deals the batches out to processes (one GPU each with ``--ngpu``), each loading the model once.

Hypotheses are appended to ``<output_dir>/partial/`` as each batch finishes; a run that was killed
decodes, when started again, only the utterances missing there, in the batches an uninterrupted run
would have used, so its ``hyp`` is the same. ``hyp`` is written last. An output dir is skipped when it
was made from the same packed model, decoding options and dump (sst.data.provenance); when any of them
changed, it is decoded again from scratch (partial hypotheses of other inputs are dropped).
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.multiprocessing as mp
import yaml
from espnet2.fileio.read_text import read_2columns_text
from tqdm import tqdm

from sst.data.audio import K, dumped_lengths, length_sorted_batches, padded_batches, read_dumped
from sst.data.langs import mbart_code
from sst.data.provenance import Provenance, dump_fingerprint, model_fingerprint
from sst.models.packing import PACKED, load_packed
from sst.models.pretrained import language_token_id

DECODE_DEFAULTS = {"beam_size": 5, "length_penalty": 1.0, "max_length": 200, "max_len_ratio": 0.0,
                   "batch_size": 16, "batch_bins": 4000000}
# The dump files a decode dir is made from (with the dump's provenance records).
DECODE_INPUTS = ("wav.scp", "utt2tgt_lang", "translation", "utt2lang")
# Hypotheses of an unfinished decoding, appended as batches finish: <output_dir>/partial/*.txt
PARTIAL = "partial"
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


def translate_batches(model, tokenizer, batches: Iterable[tuple[list[K], torch.Tensor, torch.Tensor]],
                      tgt_langs: Mapping[K, str], options: dict, device: str = "cpu"
                      ) -> Iterator[list[tuple[K, str]]]:
    """Translate ``(keys, speech, lengths)`` batches (see ``sst.data.audio.padded_batches``); yields each
    batch's ``(key, hypothesis)`` pairs as soon as it is decoded."""
    for keys, speech, lengths in batches:
        languages = torch.tensor([language_token_id(tokenizer, mbart_code(tgt_langs[key])) for key in keys])
        outputs = model.translate(speech.to(device), lengths.to(device), languages.to(device),
                                  beam_size=int(options["beam_size"]),
                                  length_penalty=float(options["length_penalty"]),
                                  max_length=int(options["max_length"]),
                                  max_len_ratio=float(options["max_len_ratio"]))
        yield [(key, " ".join(tokenizer.decode(ids, skip_special_tokens=True).splitlines()).strip())
               for key, ids in zip(keys, outputs)]


def decode_utterances(model, tokenizer, audio: Mapping[K, np.ndarray], tgt_langs: Mapping[K, str],
                      options: dict, device: str = "cpu", progress: bool = True) -> dict[K, str]:
    """Translate in-memory ``audio`` (key -> 16 kHz mono waveform), batched as stage 5 batches;
    returns key -> hypothesis. Settings missing from ``options`` take DECODE_DEFAULTS."""
    options = {**DECODE_DEFAULTS, **options}
    batches = length_sorted_batches({key: len(audio[key]) for key in audio}, int(options["batch_bins"]),
                                    int(options["batch_size"]))
    hypotheses: dict[K, str] = {}
    decoded = translate_batches(model, tokenizer, padded_batches(batches, audio.__getitem__), tgt_langs, options,
                                device)
    for pairs in tqdm(decoded, total=len(batches), desc="decoding", disable=not progress):
        hypotheses.update(pairs)
    return hypotheses


def decoded_hypotheses(output_dir: Path) -> dict[str, str]:
    """What an interrupted decoding of ``output_dir`` already holds: utt -> hypothesis from the complete
    lines of its partial files (a line cut short by a kill has no newline and does not count)."""
    hypotheses: dict[str, str] = {}
    for path in sorted((output_dir / PARTIAL).glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                utt, _, hyp = line[:-1].partition(" ")
                hypotheses[utt] = hyp
    return hypotheses


def _consolidate_partial(output_dir: Path, hypotheses: dict[str, str]) -> None:
    """Rewrite the partial files of ``output_dir`` as one (atomically), so new jobs start fresh files."""
    partial = output_dir / PARTIAL
    partial.mkdir(parents=True, exist_ok=True)
    tmp = partial / "decoded.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        f.writelines(f"{utt} {hyp}\n" for utt, hyp in hypotheses.items())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(partial / "decoded.txt")
    for path in partial.glob("job*.txt"):
        path.unlink()


def _decode_shard(rank: int, model_dir: Path, job_batches: list[list[list[Key]]], wavs: dict[Key, str],
                  tgt_langs: dict[Key, str], output_dirs: list[Path], options: dict, ngpu: int,
                  threads: int) -> None:
    """Decode this job's batches, appending each batch's hypotheses to ``<output_dir>/partial/job<rank>.txt``
    (one write, flush and fsync per batch and output dir: a kill loses at most the batch in flight)."""
    torch.set_num_threads(threads)
    device = f"cuda:{rank % ngpu}" if ngpu > 0 else "cpu"
    model, tokenizer = load_packed(model_dir, device)
    mine = job_batches[rank]
    files = {}
    try:
        decoded = translate_batches(model, tokenizer, padded_batches(mine, lambda key: read_dumped(wavs[key])),
                                    tgt_langs, options, device)
        for pairs in tqdm(decoded, total=len(mine), desc="decoding", disable=rank != 0):
            by_set: dict[int, list[str]] = {}
            for (index, utt), hyp in pairs:
                by_set.setdefault(index, []).append(f"{utt} {hyp}\n")
            for index, lines in by_set.items():
                if index not in files:
                    files[index] = (output_dirs[index] / PARTIAL / f"job{rank}.txt").open("a", encoding="utf-8")
                files[index].write("".join(lines))
                files[index].flush()
                os.fsync(files[index].fileno())
    finally:
        for f in files.values():
            f.close()


def write_sorted(path: Path, mapping: Mapping[str, str]) -> None:
    """Write ``key value`` lines sorted by key, atomically (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{key} {mapping[key]}\n" for key in sorted(mapping)), encoding="utf-8")
    tmp.replace(path)


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
    lengths: dict[Key, int] = {}
    tgt_langs: dict[Key, str] = {}
    decoded: dict[int, dict[str, str]] = {}
    model = model_fingerprint(args.model_dir / PACKED)
    made_from = {index: {"model": model, "options": options, "dump": dump_fingerprint(dump_dir, DECODE_INPUTS)}
                 for index, dump_dir in enumerate(args.dump_dir)}
    for index, (dump_dir, output_dir) in enumerate(zip(args.dump_dir, args.output_dir)):
        set_wavs = read_2columns_text(dump_dir / "wav.scp")
        hyp_file = output_dir / "hyp"
        if Provenance(output_dir, "st_inference").is_current(made_from[index], hyp_file) and hyp_file.exists():
            continue
        Provenance(output_dir, "st_inference").clear()
        Provenance(output_dir, PARTIAL).keep_work_if_current(made_from[index], output_dir / PARTIAL)
        set_lengths = dumped_lengths(dump_dir, set_wavs)
        decoded[index] = {utt: hyp for utt, hyp in decoded_hypotheses(output_dir).items() if utt in set_wavs}
        _consolidate_partial(output_dir, decoded[index])
        set_langs = read_2columns_text(dump_dir / "utt2tgt_lang")
        for utt in sorted(set_wavs):
            wavs[index, utt], lengths[index, utt], tgt_langs[index, utt] = set_wavs[utt], set_lengths[utt], set_langs[utt]
    if not decoded:
        return

    # The batches of the whole sets, so that a resumed run decodes the missing utterances in the same
    # batches (hence to the same hypotheses) as an uninterrupted one; whole batches go to the jobs.
    batches = [[key for key in batch if key[1] not in decoded[key[0]]]
               for batch in length_sorted_batches(lengths, int(options["batch_bins"]), int(options["batch_size"]))]
    batches = [batch for batch in batches if batch]
    todo = sum(len(batch) for batch in batches)
    nj = max(1, min(args.nj, len(batches)))
    logging.info("decoding %d utterances (%d already decoded) of %s in %d batch(es), %d job(s), with %s", todo,
                 len(wavs) - todo, " ".join(str(args.dump_dir[i]) for i in decoded), len(batches), nj, options)
    if batches:
        job_batches = [batches[job::nj] for job in range(nj)]
        threads = max(1, (os.cpu_count() or 1) // nj)
        shard_args = (args.model_dir, job_batches, wavs, tgt_langs, args.output_dir, options, args.ngpu, threads)
        if nj == 1:
            _decode_shard(0, *shard_args)
        else:
            mp.spawn(_decode_shard, args=shard_args, nprocs=nj, join=True)

    for index in decoded:
        dump_dir, output_dir = args.dump_dir[index], args.output_dir[index]
        hypotheses = decoded_hypotheses(output_dir)
        missing = [utt for (i, utt) in wavs if i == index and utt not in hypotheses]
        if missing:
            raise RuntimeError(f"{output_dir}: no hypothesis for {len(missing)} utterance(s), e.g. {missing[0]}")
        write_sorted(output_dir / "ref", read_2columns_text(dump_dir / "translation"))
        for name in ("utt2lang", "utt2tgt_lang"):
            write_sorted(output_dir / name, read_2columns_text(dump_dir / name))
        write_sorted(output_dir / "hyp", {utt: hypotheses[utt] for (i, utt) in wavs if i == index})
        Provenance(output_dir, "st_inference").save(made_from[index])
        Provenance(output_dir, PARTIAL).clear()
        shutil.rmtree(output_dir / PARTIAL)
        logging.info("wrote %s (%d hypotheses)", output_dir / "hyp", sum(1 for i, _ in wavs if i == index))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

"""Stage 5: batched beam-search decoding of dump dirs with a packed speech-translation model.

The utterances of all the dump dirs still to decode are pooled, sorted by length (from the dumps'
``speech_shape``) and cut into batches of at most ``batch_size`` utterances and ``batch_bins`` padded
audio samples; audio is read batch by batch, so memory does not grow with the set. ``nj`` jobs share
the batches out (one GPU each with ``ngpu``), each loading the model once.

Hypotheses are appended to ``<output_dir>/partial/`` as each batch finishes; a run that was killed
decodes, when started again, only the utterances missing there, in the batches an uninterrupted run
would have used, so its ``hyp`` is the same. ``hyp`` is written last. An output dir is skipped when it
was made from the same packed model, decoding options and dump (sst.data.provenance); when any of them
changed, it is decoded again from scratch (partial hypotheses of other inputs are dropped).
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch
import torch.multiprocessing as mp
from tqdm import tqdm

from sst.data.audio import dumped_lengths, read_dumped
from sst.data.provenance import Provenance, dump_fingerprint, model_fingerprint
from sst.inference.batching import length_sorted_batches, padded_batches
from sst.inference.beam_search import translate_batches
from sst.inference.quantize import check_quantize, quantize_model, recorded_settings
from sst.io import atomic_open, existing_dir, read_kv, write_kv
from sst.models.packing import PACKED, load_packed

# The dump files a decode dir is made from (with the dump's provenance records).
DECODE_INPUTS = ("wav.scp", "utt2tgt_lang", "translation", "utt2lang")
# Hypotheses of an unfinished decoding, appended as batches finish: <output_dir>/partial/*.txt
PARTIAL = "partial"
# (index of the dump dir, utterance id): utterance ids need not be unique across dump dirs
Key = tuple[int, str]


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
    with atomic_open(partial / "decoded.txt") as f:
        f.writelines(f"{utt} {hyp}\n" for utt, hyp in hypotheses.items())
    for path in partial.glob("job*.txt"):
        path.unlink()


def _decode_shard(rank: int, model_dir: Path, job_batches: list[list[list[Key]]], wavs: dict[Key, str],
                  tgt_langs: dict[Key, str], output_dirs: list[Path], options: dict, ngpu: int,
                  threads: int, quantize: str) -> None:
    """Decode this job's batches, appending each batch's hypotheses to ``<output_dir>/partial/job<rank>.txt``
    (one write, flush and fsync per batch and output dir: a kill loses at most the batch in flight)."""
    torch.set_num_threads(threads)
    device = f"cuda:{rank % ngpu}" if ngpu > 0 else "cpu"
    model, tokenizer = load_packed(model_dir, device)
    model = quantize_model(model, quantize, device)
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


def decode_dump_dirs(model_dir: Path, dump_dirs: list[Path], output_dirs: list[Path], options: dict,
                     nj: int = 1, ngpu: int = 0, quantize: str = "none") -> None:
    """Decode each dump dir into its output dir (``hyp``, ``ref``, ``utt2lang``, ``utt2tgt_lang``) with the
    package of ``model_dir`` (its linear layers quantized as ``quantize`` says, sst.inference.quantize),
    skipping those already decoded from the same inputs (see the module doc)."""
    check_quantize(quantize, "cuda" if ngpu > 0 else "cpu", "--quantize")
    settings = recorded_settings(options, quantize)
    wavs: dict[Key, str] = {}
    lengths: dict[Key, int] = {}
    tgt_langs: dict[Key, str] = {}
    decoded: dict[int, dict[str, str]] = {}
    model = model_fingerprint(existing_dir(model_dir / PACKED))
    made_from = {index: {"model": model, "options": settings, "dump": dump_fingerprint(dump_dir, DECODE_INPUTS)}
                 for index, dump_dir in enumerate(dump_dirs)}
    for index, (dump_dir, output_dir) in enumerate(zip(dump_dirs, output_dirs)):
        set_wavs = read_kv(dump_dir / "wav.scp")
        hyp_file = output_dir / "hyp"
        if Provenance(output_dir, "st_inference").is_current(made_from[index], hyp_file) and hyp_file.exists():
            continue
        Provenance(output_dir, "st_inference").clear()
        Provenance(output_dir, PARTIAL).keep_work_if_current(made_from[index], output_dir / PARTIAL)
        set_lengths = dumped_lengths(dump_dir, set_wavs)
        decoded[index] = {utt: hyp for utt, hyp in decoded_hypotheses(output_dir).items() if utt in set_wavs}
        _consolidate_partial(output_dir, decoded[index])
        set_langs = read_kv(dump_dir / "utt2tgt_lang")
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
    nj = max(1, min(nj, len(batches)))
    logging.info("decoding %d utterances (%d already decoded) of %s in %d batch(es), %d job(s), with %s", todo,
                 len(wavs) - todo, " ".join(str(dump_dirs[i]) for i in decoded), len(batches), nj, settings)
    if batches:
        job_batches = [batches[job::nj] for job in range(nj)]
        threads = max(1, (os.cpu_count() or 1) // nj)
        shard_args = (model_dir, job_batches, wavs, tgt_langs, output_dirs, options, ngpu, threads, quantize)
        if nj == 1:
            _decode_shard(0, *shard_args)
        else:
            mp.spawn(_decode_shard, args=shard_args, nprocs=nj, join=True)

    for index in decoded:
        dump_dir, output_dir = dump_dirs[index], output_dirs[index]
        hypotheses = decoded_hypotheses(output_dir)
        missing = [utt for (i, utt) in wavs if i == index and utt not in hypotheses]
        if missing:
            raise RuntimeError(f"{output_dir}: no hypothesis for {len(missing)} utterance(s), e.g. {missing[0]}")
        write_kv(output_dir / "ref", read_kv(dump_dir / "translation"))
        for name in ("utt2lang", "utt2tgt_lang"):
            write_kv(output_dir / name, read_kv(dump_dir / name))
        write_kv(output_dir / "hyp", {utt: hypotheses[utt] for (i, utt) in wavs if i == index})
        Provenance(output_dir, "st_inference").save(made_from[index])
        Provenance(output_dir, PARTIAL).clear()
        shutil.rmtree(output_dir / PARTIAL)
        logging.info("wrote %s (%d hypotheses)", output_dir / "hyp", sum(1 for i, _ in wavs if i == index))

"""SAMU training step with cached teacher embeddings against a teacher run inside each step.

    tools/venv/bin/python tools/bench/bench_teacher.py [--threads 1] [--json out.json]

Student: the medium encoder in ``SamuModel`` as stage 3 trains it (everything but the CNN trainable,
time masking on; layerdrop off so that every step does the same work), ESPnet's step (forward,
backward, grad-norm clipping, Adam over the SAMU task's optimizer parameters). Teacher: a
sentence-transformers model of LaBSE's shape (BERT 12 x 768, CLS pooling, Dense + tanh, Normalize)
with random weights and a word-level vocabulary of the batch texts (one token per word, close to
LaBSE's 501k-piece vocabulary; the embedding rows it leaves out cost memory, not compute).

``cached``: the step reads the batch's vectors from ``teacher_embed.scp``, written beforehand by stage
2's own ``embed_teacher.write_embeddings``, through ``kaldiio.load_scp`` as ESPnet's ``kaldi_ark``
loader does (inline here; training reads them in its data-loader workers). ``on_the_fly``: the step
first embeds the batch's transcripts with ``teacher.encode`` (no gradients, eval mode), as a naive
implementation would. Both steps alternate in one process (see time_side_by_side); the figure is
the ratio of the fastest steps (see common.ratio).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Callable

import kaldiio
import numpy as np
import torch

from transformers import Wav2Vec2Config

from common import (MEDIUM_ENCODER, XLSR_300M, clock_for, command_line, count_flops, emit, make_speech_batch,
                    ratio, set_threads, time_side_by_side)

# sentence-transformers/LaBSE: BERT-base geometry, 501,153 WordPiece rows, 768-dim embeddings.
LABSE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
             max_position_embeddings=512, type_vocab_size=2)
LABSE_VOCAB = 501153
# Utterance length for the full-size FLOP projection (CoVoST-2 clips average about 5 s).
FULL_AUDIO_SECONDS = 4.5
GOAL = 3.0


def make_transcripts(seconds: list[float], words_per_second: float, seed: int = 0) -> list[str]:
    """Pseudo-word transcripts, ``words_per_second`` words per second of each utterance."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    lexicon = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(5000)]
    return [" ".join(rng.choices(lexicon, k=max(1, round(s * words_per_second)))) for s in seconds]


def build_teacher(texts: list[str], tmp: Path):
    """A LaBSE-shaped SentenceTransformer with random weights and a vocabulary covering ``texts``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    from sst.testing.tiny_models import wordpiece_vocab

    vocab = wordpiece_vocab(texts)
    BertModel(BertConfig(vocab_size=len(vocab), **LABSE)).save_pretrained(tmp / "bert")
    BertTokenizer(vocab=vocab, do_lower_case=False, strip_accents=False).save_pretrained(tmp / "bert")
    width = LABSE["hidden_size"]
    modules = [Transformer(str(tmp / "bert"), max_seq_length=256), Pooling(width, pooling_mode="cls"),
               Dense(width, width, activation_function=torch.nn.Tanh()), Normalize()]
    return SentenceTransformer(modules=modules, device="cpu").eval()


class SamuStep:
    """The SAMU student, its optimizer and batch; ``step(teacher_vectors)`` runs one training step."""

    def __init__(self, encoder_dir: str, batch: dict[str, torch.Tensor]):
        from sst.models.samu import SamuModel
        from sst.tasks.samu import SamuTask

        torch.manual_seed(0)
        self.model = SamuModel(encoder_dir, teacher_dim=LABSE["hidden_size"], pretrained=False, freeze=[],
                               mask_time_prob=0.05, mask_time_length=10, layerdrop=0.0)
        self.model.train()
        optim_args = argparse.Namespace(optim="adam", optim_conf={"lr": 1e-4})
        self.optimizer, = SamuTask.build_optimizers(optim_args, self.model)
        self.batch = batch

    def step(self, teacher: torch.Tensor) -> None:
        loss, _, _ = self.model(**self.batch, teacher=teacher)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        self.optimizer.zero_grad()


def full_size_flops(batch_size: int, tokens: int) -> dict[str, float]:
    """FLOPs of one XLS-R-300M SAMU step (forward + backward, ``FULL_AUDIO_SECONDS`` per utterance) and
    of one LaBSE forward over ``tokens`` tokens per transcript, counted on the meta device (no compute)."""
    from transformers import BertConfig, BertModel, Wav2Vec2Model

    with torch.device("meta"):
        student = Wav2Vec2Model(Wav2Vec2Config(**{**XLSR_300M, "mask_time_prob": 0.0}))
        student.freeze_feature_encoder()
        teacher = BertModel(BertConfig(vocab_size=LABSE_VOCAB, **LABSE)).eval()
        speech = torch.zeros(batch_size, int(FULL_AUDIO_SECONDS * 16000))
        ids = torch.zeros(batch_size, tokens, dtype=torch.long)
    labse_parameters = sum(p.numel() for p in teacher.parameters())

    def student_step() -> None:
        student(speech).last_hidden_state.mean().backward()

    def teacher_forward() -> None:
        with torch.no_grad():
            teacher(input_ids=ids)

    return {"student_step": count_flops(student_step), "teacher_forward": count_flops(teacher_forward),
            "labse_parameters": labse_parameters, "audio_seconds": FULL_AUDIO_SECONDS, "tokens": tokens}


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--min_seconds", type=float, default=3.0)
    parser.add_argument("--max_seconds", type=float, default=6.0)
    parser.add_argument("--words_per_second", type=float, default=2.5, help="transcript length per second of audio")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    from sst.bin.embed_teacher import write_embeddings

    batch = make_speech_batch(args.batch_size, (args.min_seconds, args.max_seconds))
    seconds = (batch["speech_lengths"] / 16000).tolist()
    utts = [f"utt{i:03d}" for i in range(args.batch_size)]
    transcripts = make_transcripts(seconds, args.words_per_second)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        teacher = build_teacher(transcripts, tmp)
        dump_dir = tmp / "dump"
        dump_dir.mkdir()
        write_embeddings(dump_dir, dict(zip(utts, transcripts)), teacher, batch_size=64)
        vectors = kaldiio.load_scp(str(dump_dir / "teacher_embed.scp"))
        Wav2Vec2Config(**MEDIUM_ENCODER).save_pretrained(tmp / "encoder")
        student = SamuStep(str(tmp / "encoder"), batch)

        def read_cached() -> torch.Tensor:
            return torch.from_numpy(np.stack([vectors[utt] for utt in utts]))

        def embed_now() -> torch.Tensor:
            # encode() returns inference-mode tensors, which autograd cannot save: clone as a naive loop must.
            return teacher.encode(transcripts, batch_size=len(transcripts), convert_to_tensor=True).clone()

        def step_with(teacher_vectors: Callable[[], torch.Tensor]) -> Callable[[], None]:
            return lambda: student.step(teacher_vectors())

        steps = {"cached": step_with(read_cached), "on_the_fly": step_with(embed_now)}
        timing = time_side_by_side(steps, args.warmup, args.steps, clock_for(args.threads))
        agreement = torch.nn.functional.cosine_similarity(read_cached(), embed_now(), dim=-1).min().item()
        tokens = [len(teacher.tokenizer(text)["input_ids"]) for text in transcripts]
        flops = {"student_step": count_flops(steps["cached"]), "teacher_forward": count_flops(embed_now),
                 "teacher_parameters": sum(p.numel() for p in teacher.parameters())}
    speedup = ratio(timing["on_the_fly"], timing["cached"])
    full = full_size_flops(args.batch_size, round(sum(tokens) / len(tokens)))
    result = {
        "item": "teacher",
        "title": "SAMU step: cached teacher vectors vs teacher run in the step (medium student, CPU)",
        "command": command_line(__file__, argv), "variants": timing,
        "config": {**{k: getattr(args, k) for k in ("batch_size", "min_seconds", "max_seconds", "words_per_second",
                                                    "warmup", "steps", "threads")},
                   "teacher_tokens_per_text": tokens},
        "cached_vs_fresh_min_cosine": agreement, "flops": flops, "full_size_flops": full,
        "speedup": speedup["min"], "speedup_of_medians": speedup["median"], "goals": {"speedup": GOAL},
        "goals_met": {f"speedup>={GOAL}": speedup["min"] >= GOAL},
    }
    result["summary"] = (f"on-the-fly / cached step time {speedup['min']:.2f}x "
                         f"({timing['on_the_fly']['min_s']:.2f} vs {timing['cached']['min_s']:.2f} s)")
    result["goal_text"] = f">= {GOAL}x"
    result["notes"] = notes(result)
    emit(result, args.json)
    return result


def notes(result: dict) -> list[str]:
    """What the figures show, for the report."""
    flops, full = result["flops"], result["full_size_flops"]
    medium_share = flops["teacher_forward"] / (flops["student_step"] + flops["teacher_forward"])
    full_ratio = (full["student_step"] + full["teacher_forward"]) / full["student_step"]
    out = [
        f"Cached vectors equal the teacher's fresh output (min cosine {result['cached_vs_fresh_min_cosine']:.6f}).",
        f"FLOPs: student step {flops['student_step'] / 1e9:.0f} G, teacher forward "
        f"{flops['teacher_forward'] / 1e9:.1f} G ({medium_share:.0%} of an on-the-fly step's FLOPs): a FLOP ratio of "
        f"{1 / (1 - medium_share):.2f}x against the measured {result['speedup']:.2f}x.",
        f"At full size (XLS-R-300M student, {full['audio_seconds']} s per utterance, against LaBSE over "
        f"{full['tokens']} tokens per transcript; FLOPs counted on the meta device) the teacher adds "
        f"{full['teacher_forward'] / 1e9:.0f} G to a {full['student_step'] / 1e12:.2f} T step: a FLOP ratio of "
        f"{full_ratio:.3f}x.",
    ]
    if result["speedup"] < GOAL:
        labse = full["labse_parameters"]
        out.append(
            f"Why the ratio stays below {GOAL}x: embedding a ~{full['tokens']}-token transcript costs far less than "
            "a training step (forward and backward) of the speech encoder over the same utterance's ~50 frames per "
            "second, so running the teacher inside the step cannot triple its time at these shapes, and matters "
            f"even less at full size. What caching saves is the teacher itself: LaBSE's {labse / 1e6:.0f}M "
            f"parameters ({labse * 4 / 2**30:.1f} GiB in fp32) never sit next to the student in GPU memory, no "
            "tokenizer or teacher runs in the training loop, and the targets are fixed once.")
    return out


if __name__ == "__main__":
    main()

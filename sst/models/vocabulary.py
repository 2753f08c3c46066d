"""Target-vocabulary trimming of the mBART-50 decoder: keep only the output rows a task can produce.

A target vocabulary is the sorted list of the mBART ids kept: the special tokens ``<s> <pad> </s> <unk>``
(ids 0-3, so they keep their ids and the generation config stays right), all 52 mBART-50 language codes
(any of them can still be forced at decoding: 52 rows cost nothing), the ids of the training translations
and, optionally, the pieces of extra texts. Trimmed id ``i`` stands for mBART id ``ids[i]``; an mBART id
outside the subset becomes ``<unk>``. The file holds one id per line; what it was made from is recorded
beside it (sst.data.provenance).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import MBartForConditionalGeneration, PreTrainedTokenizerBase

from sst.data.langs import MBART50_CODES
from sst.errors import ConfigError
from sst.io import DataDirError, write_text

# mBART's <s> <pad> </s> <unk>: the first four ids, kept in every subset.
SPECIAL_IDS = (0, 1, 2, 3)
UNK_ID = 3
# The dump file of the training targets in trimmed ids, beside ``text_int`` (sst.bin.target_vocab writes it).
TRIMMED = "text_int_trimmed"


def required_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """The ids every target vocabulary keeps: the four special tokens and all mBART-50 language codes."""
    specials = tokenizer.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>"])
    if specials != list(SPECIAL_IDS):
        raise ValueError(f"the tokenizer's <s> <pad> </s> <unk> ids are {specials}, not mBART's {list(SPECIAL_IDS)}")
    codes = tokenizer.convert_tokens_to_ids(sorted(MBART50_CODES.values()))
    return set(SPECIAL_IDS) | {code for code in codes if code not in (None, tokenizer.unk_token_id)}


def ids_of_texts(tokenizer: PreTrainedTokenizerBase, paths: Iterable[Path]) -> set[int]:
    """The sentencepiece ids of the lines of plain text files (a user's extra target-language text)."""
    ids: set[int] = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                ids.update(tokenizer(line.strip(), add_special_tokens=False).input_ids)
    return ids


def write_vocabulary(path: Path, ids: Iterable[int]) -> None:
    """Write the sorted ids, one per line (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, "".join(f"{i}\n" for i in sorted(set(ids))))


def read_vocabulary(path: str | Path) -> list[int]:
    """The ids of a vocabulary file; DataDirError naming the file and line of a malformed one."""
    ids: list[int] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip().isdigit() or (ids and int(line) <= ids[-1]):
                raise DataDirError(f"{path}:{number}: expected one id per line in increasing order, "
                                   f"got {line.strip()!r}")
            ids.append(int(line))
    if ids[: len(SPECIAL_IDS)] != list(SPECIAL_IDS):
        raise DataDirError(f"{path}: a target vocabulary must start with the special ids {list(SPECIAL_IDS)}")
    return ids


def to_trimmed(mbart_ids: torch.Tensor, vocabulary: torch.Tensor) -> torch.Tensor:
    """mBART ids -> trimmed ids (positions in the sorted ``vocabulary``); ids outside it -> ``<unk>``."""
    positions = torch.searchsorted(vocabulary, mbart_ids).clamp(max=len(vocabulary) - 1)
    return torch.where(vocabulary[positions] == mbart_ids, positions, torch.full_like(positions, UNK_ID))


def to_mbart(trimmed_ids: torch.Tensor, vocabulary: torch.Tensor) -> torch.Tensor:
    """Trimmed ids -> mBART ids."""
    return vocabulary[trimmed_ids]


def trim_line(line: str, vocabulary: torch.Tensor) -> str:
    """One ``text_int`` line (``utt id id ...``) with its ids mapped to the trimmed vocabulary."""
    utt, *ids = line.split()
    trimmed = to_trimmed(torch.tensor([int(i) for i in ids], dtype=torch.long), vocabulary)
    return " ".join([utt, *map(str, trimmed.tolist())])


def check_trimmed_targets(dump_dir: Path, trimmed_name: str, vocabulary_file: str | Path) -> None:
    """DataDirError (one line) unless ``dump_dir/trimmed_name`` is ``dump_dir/text_int`` in the ids of
    ``vocabulary_file`` (streamed: a combined dump dir has no record of the vocabulary its parts used)."""
    vocabulary = torch.tensor(read_vocabulary(vocabulary_file), dtype=torch.long)
    trimmed_file = Path(dump_dir) / trimmed_name
    if not trimmed_file.is_file():
        raise DataDirError(f"{trimmed_file} is missing: run stage 2 with the target vocabulary {vocabulary_file}")
    with open(Path(dump_dir) / "text_int", encoding="utf-8") as full, open(trimmed_file, encoding="utf-8") as trimmed:
        for number, (line, trimmed_line) in enumerate(zip(full, trimmed), 1):
            if trim_line(line, vocabulary) != trimmed_line.rstrip("\n"):
                raise DataDirError(f"{trimmed_file}:{number}: not text_int in the ids of {vocabulary_file}; "
                                   "rerun stage 2 with that vocabulary")
        if full.readline() or trimmed.readline():
            raise DataDirError(f"{trimmed_file}: not as many lines as text_int; rerun stage 2")


def trim_mbart(mbart: MBartForConditionalGeneration, ids: Sequence[int]) -> None:
    """Keep only the rows ``ids`` of mBART's tied embedding / LM head and of ``final_logits_bias``, in place.

    A model built from an already trimmed config (a package's) has ``len(ids)`` rows: left as it is.
    """
    shared = mbart.model.shared
    if shared.num_embeddings == len(ids):
        return
    if ids[-1] >= shared.num_embeddings:
        raise ConfigError(f"the target vocabulary holds id {ids[-1]}, "
                          f"but the decoder has {shared.num_embeddings} tokens")
    index = torch.tensor(ids, dtype=torch.long, device=shared.weight.device)
    head = mbart.lm_head.weight
    # Built on the meta device (no random initialisation, no RNG draw), then given the kept rows.
    with torch.device("meta"):
        embedding = type(shared)(len(ids), shared.embedding_dim, shared.padding_idx, embed_scale=shared.embed_scale)
        mbart.lm_head = nn.Linear(shared.embedding_dim, len(ids), bias=False)
    embedding.weight = nn.Parameter(shared.weight.detach()[index].clone(), requires_grad=shared.weight.requires_grad)
    mbart.lm_head.weight = embedding.weight if head is shared.weight else nn.Parameter(
        head.detach()[index].clone(), requires_grad=head.requires_grad)
    mbart.model.shared = embedding
    mbart.model.decoder.embed_tokens = embedding
    mbart.final_logits_bias = nn.Buffer(mbart.final_logits_bias[:, index].clone())
    mbart.config.vocab_size = len(ids)

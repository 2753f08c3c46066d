"""The beam-search driver: batches of audio in, one detokenised hypothesis per utterance out."""
from __future__ import annotations

from typing import Iterable, Iterator, Mapping

import numpy as np
import torch
from tqdm import tqdm

from sst.data.langs import mbart_code
from sst.inference.batching import K, length_sorted_batches, padded_batches
from sst.inference.options import DECODE_DEFAULTS
from sst.models.pretrained import language_token_id


def translate_batches(model, tokenizer, batches: Iterable[tuple[list[K], torch.Tensor, torch.Tensor]],
                      tgt_langs: Mapping[K, str], options: dict, device: str = "cpu"
                      ) -> Iterator[list[tuple[K, str]]]:
    """Translate ``(keys, speech, lengths)`` batches (see ``sst.inference.batching.padded_batches``); yields
    each batch's ``(key, hypothesis)`` pairs as soon as it is decoded."""
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

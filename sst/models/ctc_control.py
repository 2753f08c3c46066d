"""The control without semantics: the SAMU student fine-tuned with CTC on the transcripts instead.

Same encoder, same data, same transcripts as SAMU distillation; only the objective differs: a linear head
over the encoder frames predicts the transcript's characters (CTC), so what the ST stage gains from the
semantic teacher can be told apart from what it gains from any supervision on the same transcripts. The
head is not exported: stage 4 takes the encoder alone, as it takes the SAMU one.

The character vocabulary (a token list, one token a line, id = line number) is ``<blank>`` (0), ``<unk>``
(1), ``|`` (2, the word boundary, as in wav2vec2 CTC fine-tuning), then every other character of the
training transcripts, sorted. Transcripts are NFC-normalised and lowercased (case carries nothing a speech
encoder can hear; punctuation is kept, since no rule removes it for every language); runs of whitespace
become one ``|``. A character outside the list (a literal ``|`` among them) is ``<unk>``.
Hand-written: HF's Wav2Vec2CTCTokenizer needs a JSON vocabulary and upper-cases, and the list is a few lines.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from torch import nn

from sst.io import DataDirError, read_kv, write_kv, write_text
from sst.models.architectures import XLSR_300M
from sst.models.samu import student_encoder

BLANK, UNKNOWN, WORD_BOUNDARY = "<blank>", "<unk>", "|"


def normalize_transcript(text: str) -> str:
    """NFC, lowercased, whitespace runs as one space, no space at either end."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


class CharVocabulary:
    """The CTC head's token list: blank, unknown, word boundary, then characters."""

    def __init__(self, tokens: Sequence[str]):
        if list(tokens[:3]) != [BLANK, UNKNOWN, WORD_BOUNDARY]:
            raise ValueError(f"a character vocabulary starts with {BLANK} {UNKNOWN} {WORD_BOUNDARY}, "
                             f"not {' '.join(tokens[:3])}")
        self.tokens = list(tokens)
        self.ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharVocabulary:
        """Every character of the normalised texts (spaces and ``|`` aside)."""
        chars = {char for text in texts for char in normalize_transcript(text)} - {" ", WORD_BOUNDARY}
        return cls([BLANK, UNKNOWN, WORD_BOUNDARY, *sorted(chars)])

    @classmethod
    def read(cls, path: Path) -> CharVocabulary:
        return cls(Path(path).read_text(encoding="utf-8").split("\n")[:-1])

    def write(self, path: Path) -> None:
        write_text(path, "".join(f"{token}\n" for token in self.tokens))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of a transcript: its characters, ``|`` between words."""
        unknown = self.ids[UNKNOWN]
        return [self.ids[WORD_BOUNDARY] if char == " " else
                unknown if char == WORD_BOUNDARY else self.ids.get(char, unknown)
                for char in normalize_transcript(text)]


def write_targets(vocabulary: CharVocabulary, transcripts: Path, output: Path) -> None:
    """``output``: ``utt id id ...`` (ESPnet's text_int) for every transcript of the key/value file."""
    targets = {utt: " ".join(map(str, vocabulary.encode(text))) for utt, text in read_kv(transcripts).items()}
    empty = [utt for utt, ids in targets.items() if not ids]
    if empty:
        raise DataDirError(f"{transcripts}: empty transcript for utterance {empty[0]} ({len(empty)} in all)")
    write_kv(output, targets)


class CtcControlModel(AbsESPnetModel):
    """XLS-R -> linear head over the frames -> CTC loss against the transcript's characters.

    Built from the SAMU config: ``pooling_dim`` is the SAMU model's and is not used here, so that one
    config file trains both objectives.
    """

    def __init__(
        self,
        vocab_size: int,
        encoder_model: str = XLSR_300M,
        pooling_dim: int = 256,
        pretrained: bool = True,
        freeze: Sequence[str] = (),
        keep_trainable: Sequence[str] = (),
        normalize_waveform: bool | None = None,
        mask_time_prob: float = 0.05,
        mask_time_length: int = 10,
        layerdrop: float = 0.05,
    ):
        super().__init__()
        self.encoder = student_encoder(encoder_model, pretrained, freeze, keep_trainable, normalize_waveform,
                                       mask_time_prob, mask_time_length, layerdrop)
        self.head = nn.Linear(self.encoder.output_dim, vocab_size)

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor, **kwargs) -> tuple[torch.Tensor, dict, torch.Tensor]:
        """Mean over the batch of the CTC loss per target character; ``infeasible``: the share of
        utterances with fewer frames than their targets need (their loss is 0: zero_infinity)."""
        frames, frame_lengths = self.encoder(speech, speech_lengths)
        log_probs = self.head(frames).float().log_softmax(dim=-1)
        targets = text.masked_fill(text < 0, 0)
        loss = nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, frame_lengths, text_lengths,
                                      blank=0, reduction="mean", zero_infinity=True)
        stats = {"loss": loss.detach(),
                 "infeasible": (ctc_frames_needed(targets, text_lengths) > frame_lengths).float().mean()}
        return force_gatherable((loss, stats, torch.tensor(speech.size(0))), loss.device)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> dict:
        return {}


def ctc_frames_needed(targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The fewest frames a CTC alignment of each padded target needs: its length plus one blank
    between each pair of equal neighbours."""
    valid = torch.arange(targets.size(1), device=targets.device)[None, 1:] < lengths[:, None]
    repeats = ((targets[:, 1:] == targets[:, :-1]) & valid).sum(dim=1)
    return lengths + repeats

"""Adapter speech translation: (SAMU-)XLS-R encoder + length adaptor + mBART-50 decoder.

Which parts train is declared in the config (``freeze`` / ``keep_trainable`` / adapter sizes), so the
paper's system, the XLS-R baseline, full fine-tuning and LNA fine-tuning differ by config only.
"""
from __future__ import annotations

from typing import Sequence

import torch
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from sst.models.adapters import attach_adapters
from sst.models import freezing
from sst.models.architectures import MBART50_MMT, XLSR_300M
from sst.models.length_adaptor import LengthAdaptor
from sst.models.pretrained import load_mbart, load_speech_encoder, normalizes_waveform
from sst.models.speech_encoder import SpeechEncoder, freeze_feature_encoder
from sst.models.vocabulary import read_vocabulary, to_mbart, to_trimmed, trim_mbart

IGNORE_ID = -1


def scored_positions(text: torch.Tensor) -> torch.Tensor:
    """The positions of ``text`` (batch, len) that the loss and accuracy count: real target tokens, not
    padding and not column 0, the target-language token, which is forced at decoding, not predicted (the
    accuracy picks the checkpoints that are averaged)."""
    scored = text != IGNORE_ID
    scored[:, 0] = False
    return scored


def translation_loss(scored_logits: torch.Tensor, text: torch.Tensor,
                     label_smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-smoothed cross-entropy and token accuracy of ``scored_logits`` (one row per position of
    ``scored_positions(text)``, in row-major order) against those tokens of ``text``."""
    targets = text[scored_positions(text)]
    loss = nn.functional.cross_entropy(scored_logits.float(), targets, label_smoothing=label_smoothing)
    accuracy = (scored_logits.argmax(-1) == targets).float().mean()
    return loss, accuracy


class SpeechTranslationModel(AbsESPnetModel):
    """Targets are ``<lang_code> tokens </s>`` id sequences; the decoder input is ``</s> <lang_code> tokens``.

    With ``target_vocabulary`` (a file of sst.models.vocabulary) only those rows of mBART's embedding / LM
    head are kept: training targets are trimmed ids (stage 2's ``text_int_trimmed``), while ``translate``
    takes and returns mBART ids as the untrimmed model does.
    """

    def __init__(
        self,
        encoder_model: str = XLSR_300M,
        decoder_model: str = MBART50_MMT,
        pretrained: bool = True,
        encoder_adapter_dim: int = 768,
        decoder_adapter_dim: int = 768,
        adapter_dropout: float = 0.1,
        length_adaptor_layers: int = 3,
        length_adaptor_kernel: int = 3,
        freeze: Sequence[str] = ("encoder", "decoder"),
        keep_trainable: Sequence[str] = (),
        label_smoothing: float = 0.1,
        normalize_waveform: bool | None = None,
        mask_time_prob: float = 0.0,
        encoder_layerdrop: float = 0.0,
        decoder_layerdrop: float = 0.0,
        target_vocabulary: str | None = None,
    ):
        super().__init__()
        backbone = load_speech_encoder(encoder_model, pretrained=pretrained, mask_time_prob=mask_time_prob,
                                       layerdrop=encoder_layerdrop)
        if normalize_waveform is None:  # as the checkpoint's feature extractor does
            normalize_waveform = normalizes_waveform(encoder_model)
        self.encoder = SpeechEncoder(backbone, normalize_waveform)
        mbart = load_mbart(decoder_model, pretrained=pretrained, decoder_layerdrop=decoder_layerdrop)
        # Only mBART's decoder and LM head are used: the text encoder is dropped to save memory.
        mbart.model.encoder = None
        if target_vocabulary:
            ids = read_vocabulary(target_vocabulary)
            trim_mbart(mbart, ids)
            # Not in the state dict: ESPnet's n-best averaging sums integer tensors (the ids of an averaged
            # checkpoint came out n times too large); the vocabulary file (packed with the model) is the record.
            self.register_buffer("target_vocabulary_ids", torch.tensor(ids, dtype=torch.long), persistent=False)
        else:
            self.target_vocabulary_ids = None
        self.mbart = mbart
        self.config = mbart.config
        self.length_adaptor = LengthAdaptor(self.encoder.output_dim, mbart.config.d_model,
                                            length_adaptor_layers, length_adaptor_kernel)
        self.encoder_adapters = self._maybe_adapters(backbone.encoder.layers, backbone.config.hidden_size,
                                                     encoder_adapter_dim, adapter_dropout)
        self.decoder_adapters = self._maybe_adapters(mbart.model.decoder.layers, mbart.config.d_model,
                                                     decoder_adapter_dim, adapter_dropout)
        self.label_smoothing = label_smoothing
        decoder = mbart.model.decoder
        # ModuleDicts keep the HF attribute names, so keep_trainable regexes see e.g. "layer_norm.weight".
        freeze_groups = {
            "encoder": backbone,
            "decoder": nn.ModuleDict({"layers": decoder.layers, "layer_norm": decoder.layer_norm,
                                      "layernorm_embedding": decoder.layernorm_embedding}),
            "embeddings": nn.ModuleDict({"shared": mbart.model.shared, "embed_positions": decoder.embed_positions,
                                         "lm_head": mbart.lm_head}),
        }
        # mBART's token embeddings and LM head are always frozen (they are tied and huge).
        freezing.freeze(freeze_groups, sorted(set(freeze) | {"embeddings"}), keep_trainable)
        # The CNN feature encoder stays frozen even where a keep_trainable regex matches its layer norms.
        freeze_feature_encoder(backbone)

    @staticmethod
    def _maybe_adapters(layers, dim: int, bottleneck: int, dropout: float) -> nn.ModuleList:
        return attach_adapters(layers, dim, bottleneck, dropout) if bottleneck > 0 else nn.ModuleList()

    def encode(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Speech -> decoder-width memory (batch, time', d_model) and its padding mask (batch, time')."""
        frames, lengths = self.encoder(speech, speech_lengths)
        memory, lengths = self.length_adaptor(frames, lengths)
        mask = torch.arange(memory.size(1), device=memory.device)[None, :] < lengths[:, None]
        return memory, mask.long()

    def decoder_inputs(self, text: torch.Tensor) -> torch.Tensor:
        """Shift targets right behind the decoder start token (``</s>``); padding becomes ``<pad>``."""
        text = text.masked_fill(text == IGNORE_ID, self.config.pad_token_id)
        start = torch.full_like(text[:, :1], self.config.decoder_start_token_id)
        return torch.cat([start, text[:, :-1]], dim=1)

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor, **kwargs) -> tuple[torch.Tensor, dict, torch.Tensor]:
        text = text[:, : int(text_lengths.max())]
        memory, memory_mask = self.encode(speech, speech_lengths)
        hidden = self.mbart.model(encoder_outputs=BaseModelOutput(last_hidden_state=memory),
                                  attention_mask=memory_mask, decoder_input_ids=self.decoder_inputs(text),
                                  use_cache=False).last_hidden_state
        # The 250k-way LM head runs on the scored target tokens only, not on the batch padding: its logits,
        # their fp32 log-softmax and gradient are the largest activations of a training step.
        logits = self.mbart.lm_head(hidden[scored_positions(text)]) + self.mbart.final_logits_bias
        loss, accuracy = translation_loss(logits, text, self.label_smoothing)
        stats = {"loss": loss.detach(), "acc": accuracy.detach()}
        return force_gatherable((loss, stats, torch.tensor(speech.size(0))), loss.device)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> dict:
        return {}

    @torch.no_grad()
    def translate(self, speech: torch.Tensor, speech_lengths: torch.Tensor, language_ids: torch.Tensor,
                  beam_size: int = 5, length_penalty: float = 1.0, max_length: int = 200,
                  max_len_ratio: float = 0.0, sample_rate: int = 16000) -> list[list[int]]:
        """Batched beam search (HF ``generate``) with each row's target language token forced first.

        The output is capped at ``max_length`` tokens and, when ``max_len_ratio`` > 0, at that many
        tokens per second of the batch's longest input. Returns each row's ids after the language token,
        up to (not including) its first ``</s>``: no end marker, no batch padding. ``language_ids`` and
        the result are mBART ids, with a target vocabulary too.
        """
        memory, memory_mask = self.encode(speech, speech_lengths)
        limit = max_length
        if max_len_ratio > 0:
            seconds = float(speech_lengths.max()) / sample_rate
            limit = min(limit, 2 + max(1, int(max_len_ratio * seconds)))
        return self.search(memory, memory_mask, language_ids, beam_size, length_penalty, limit)

    @torch.no_grad()
    def search(self, memory: torch.Tensor, memory_mask: torch.Tensor, language_ids: torch.Tensor,
               beam_size: int = 5, length_penalty: float = 1.0, max_length: int = 200,
               **generate_options) -> list[list[int]]:
        """The beam search of ``translate`` on encoder ``memory`` (see ``encode``); ``max_length`` counts
        the two forced tokens (``</s> <lang>``); ``generate_options`` go to HF ``generate`` (e.g. min_length)."""
        vocabulary = self.target_vocabulary_ids
        if vocabulary is not None:
            language_ids = to_trimmed(language_ids, vocabulary)
        prefix = torch.stack([torch.full_like(language_ids, self.config.decoder_start_token_id),
                              language_ids], dim=1)
        beam_options = {"num_beams": beam_size, "early_stopping": True} if beam_size > 1 else {"num_beams": 1}
        output = self.mbart.generate(
            encoder_outputs=BaseModelOutput(last_hidden_state=memory), attention_mask=memory_mask,
            decoder_input_ids=prefix, length_penalty=length_penalty,
            max_length=min(max_length, self.config.max_position_embeddings), do_sample=False,
            forced_bos_token_id=None, num_return_sequences=1, **beam_options, **generate_options)
        if vocabulary is not None:
            output = to_mbart(output, vocabulary)
        eos = self.config.eos_token_id
        rows = [row[prefix.size(1):].tolist() for row in output]
        return [row[: row.index(eos)] if eos in row else row for row in rows]

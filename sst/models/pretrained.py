"""Loading the pretrained HF components from a hub id or a local directory."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from transformers import (AutoTokenizer, MBartConfig, MBartForConditionalGeneration,
                          PreTrainedTokenizerBase, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model)
from transformers.utils import FEATURE_EXTRACTOR_NAME

from sst.errors import ConfigError
from sst.models.architectures import XLSR_300M, bundled_config_dir, config_source
from sst.models.hub import locate_model


def architecture_source(name_or_dir: str, option: str) -> str:
    """Where a ``pretrained: false`` model reads its config: a local dir, the packaged copy of a known
    hub id (no hub or cache needed), else the hub id's cached files (``option`` names it if missing)."""
    source = config_source(name_or_dir)
    return source if source != name_or_dir else locate_model(name_or_dir, option)


def load_speech_encoder(name_or_dir: str, pretrained: bool = True, **config_overrides) -> Wav2Vec2Model:
    """A Wav2Vec2Model (XLS-R, SAMU-XLS-R export, ...) from a hub id or a saved directory.

    ``pretrained=False`` builds the architecture of the directory's config.json with random weights
    (for the real hub ids, from the copy in the package: no hub needed).
    ``config_overrides`` set training-time options such as ``mask_time_prob`` or ``layerdrop``.
    """
    if not pretrained:
        config = Wav2Vec2Config.from_pretrained(architecture_source(name_or_dir, "--encoder_model"),
                                                **config_overrides)
        logging.info("speech encoder: random weights from the config of %s", name_or_dir)
        return Wav2Vec2Model(config)
    name_or_dir = locate_model(name_or_dir, "--encoder_model")
    logging.info("speech encoder: loading %s", name_or_dir)
    return Wav2Vec2Model.from_pretrained(name_or_dir, **config_overrides)


def load_feature_extractor(encoder_model: str) -> Wav2Vec2FeatureExtractor:
    """The encoder's feature-extractor settings, read where its architecture is (:func:`architecture_source`);
    XLS-R's for a model directory without a ``preprocessor_config.json`` (a hand-saved encoder, or a hub
    snapshot cached without it). A missing or unreachable model is the missing-model error, not a guess."""
    source = Path(architecture_source(encoder_model, "--encoder_model"))
    if source.is_dir() and not (source / FEATURE_EXTRACTOR_NAME).is_file():
        logging.warning("%s has no %s: using XLS-R's feature-extractor settings", source, FEATURE_EXTRACTOR_NAME)
        source = bundled_config_dir(XLSR_300M)
    return Wav2Vec2FeatureExtractor.from_pretrained(str(source))


def load_mbart(name_or_dir: str, pretrained: bool = True, **config_overrides) -> MBartForConditionalGeneration:
    """An mBART(-50) sequence-to-sequence model from a hub id or a saved directory."""
    if not pretrained:
        config = MBartConfig.from_pretrained(architecture_source(name_or_dir, "--decoder_model"),
                                             **config_overrides)
        logging.info("decoder: random weights from the config of %s", name_or_dir)
        return MBartForConditionalGeneration(config)
    name_or_dir = locate_model(name_or_dir, "--decoder_model")
    logging.info("decoder: loading %s", name_or_dir)
    return MBartForConditionalGeneration.from_pretrained(name_or_dir, **config_overrides)


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' progress bars and load reports off for the loads inside (e.g. a packed model's bases,
    checked by digest, whose report would fill the console of ``sst.bin.translate``)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_tokenizer(name_or_dir: str) -> PreTrainedTokenizerBase:
    """The decoder's tokenizer (mBART-50's sentencepiece model with its language codes)."""
    return AutoTokenizer.from_pretrained(locate_model(name_or_dir, "--decoder_model"))


def language_token_id(tokenizer: PreTrainedTokenizerBase, code: str) -> int:
    """The id of a language token such as ``en_XX``; a clear error if the tokenizer lacks it."""
    token_id = tokenizer.convert_tokens_to_ids(code)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ConfigError(f"the tokenizer has no language token {code!r}")
    return token_id


def is_local_model(name_or_dir: str) -> bool:
    """True when the argument names an existing local directory rather than a hub id."""
    return Path(name_or_dir).is_dir()

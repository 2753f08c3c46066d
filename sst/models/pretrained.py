"""Loading the pretrained HF components from a hub id or a local directory."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from transformers import (AutoConfig, AutoFeatureExtractor, AutoTokenizer, FeatureExtractionMixin, MBartConfig,
                          MBartForConditionalGeneration, PreTrainedModel, PreTrainedTokenizerBase)
from transformers.utils import FEATURE_EXTRACTOR_NAME

from sst.errors import ConfigError, UserError
from sst.models.architectures import W2V_BERT, XLSR_300M, bundled_config_dir, config_source
from sst.models.hub import locate_model
from sst.models.speech_encoder import FILTERBANK_TYPES, encoder_class


def architecture_source(name_or_dir: str, option: str) -> str:
    """Where a ``pretrained: false`` model reads its config: a local dir, the packaged copy of a known
    hub id (no hub or cache needed), else the hub id's cached files (``option`` names it if missing)."""
    source = config_source(name_or_dir)
    return source if source != name_or_dir else locate_model(name_or_dir, option)


class IncompleteCheckpointError(UserError):
    """A speech-encoder checkpoint lacking weights of its class (a user error: training would start from
    random weights where the user expects pretrained ones)."""


# Weights a checkpoint may lack: the mask embedding only pre-training and SpecAugment use (HF exports
# of fine-tuned or distilled encoders commonly drop it); its random init is what training starts from.
OPTIONAL_WEIGHTS = ("masked_spec_embed",)


def load_speech_encoder(name_or_dir: str, pretrained: bool = True, **config_overrides) -> PreTrainedModel:
    """A speech encoder of the checkpoint's own class (``ENCODER_CLASSES`` by its config's ``model_type``:
    XLS-R, a SAMU export, HuBERT, WavLM, data2vec-audio, w2v-BERT 2.0, ...) from a hub id or a saved directory.

    ``pretrained=False`` builds the architecture of the directory's config.json with random weights
    (for the real hub ids, from the copy in the package: no hub needed).
    ``config_overrides`` set training-time options such as ``mask_time_prob`` or ``layerdrop``.
    """
    if not pretrained:
        config = AutoConfig.from_pretrained(architecture_source(name_or_dir, "--encoder_model"), **config_overrides)
        logging.info("speech encoder: random weights from the config of %s", name_or_dir)
        return encoder_class(config.model_type, name_or_dir)(config)
    name_or_dir = locate_model(name_or_dir, "--encoder_model")
    config = AutoConfig.from_pretrained(name_or_dir, **config_overrides)
    model_class = encoder_class(config.model_type, name_or_dir)
    logging.info("speech encoder: loading %s (%s)", name_or_dir, model_class.__name__)
    model, info = model_class.from_pretrained(name_or_dir, config=config, output_loading_info=True)
    missing = sorted(key for key in info["missing_keys"] if not key.endswith(OPTIONAL_WEIGHTS))
    missing += sorted(str(item[0] if isinstance(item, tuple) else item) for item in info["mismatched_keys"])
    if missing:
        raise IncompleteCheckpointError(
            f"{name_or_dir}: {len(missing)} weight(s) of {model_class.__name__} missing or of another shape "
            f"in the checkpoint (first: {', '.join(missing[:3])}); is it a {config.model_type} speech encoder?")
    return model


def load_feature_extractor(encoder_model: str) -> FeatureExtractionMixin:
    """The encoder's feature-extractor settings, read where its architecture is (:func:`architecture_source`);
    for a model directory without a ``preprocessor_config.json`` (a hand-saved encoder, or a hub snapshot
    cached without it), those of the packaged model of its family (w2v-BERT 2.0's, else XLS-R's).
    A missing or unreachable model is the missing-model error, not a guess."""
    source = Path(architecture_source(encoder_model, "--encoder_model"))
    if source.is_dir() and not (source / FEATURE_EXTRACTOR_NAME).is_file():
        family = W2V_BERT if AutoConfig.from_pretrained(source).model_type in FILTERBANK_TYPES else XLSR_300M
        logging.warning("%s has no %s: using %s's feature-extractor settings", source, FEATURE_EXTRACTOR_NAME, family)
        source = bundled_config_dir(family)
    return AutoFeatureExtractor.from_pretrained(str(source))


def normalizes_waveform(encoder_model: str) -> bool:
    """Whether the encoder's feature extractor normalises each waveform (``do_normalize``: XLS-R, MMS,
    HuBERT / WavLM Large do, HuBERT Base does not; w2v-BERT's filterbank extractor normalises its features)."""
    return bool(getattr(load_feature_extractor(encoder_model), "do_normalize", False))


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

"""The real checkpoints' architectures (their public config files, no weights), kept in the package.

``configs/<hub id>/`` mirrors the hub repository's configuration files, so a model can be built at
its real size with random weights offline (``pretrained: false``, the config check, the benchmarks).
Loading real weights still goes through ``from_pretrained(hub id or dir)``.
"""
from __future__ import annotations

from pathlib import Path

from sst.errors import ConfigError

CONFIG_ROOT = Path(__file__).parent / "configs"
XLSR_300M = "facebook/wav2vec2-xls-r-300m"
W2V_BERT = "facebook/w2v-bert-2.0"
LABSE = "sentence-transformers/LaBSE"
MBART50_MMT = "facebook/mbart-large-50-many-to-many-mmt"
# The other students' architectures (pretrained: false, check_config), found by hub id like the above.
OTHER_STUDENTS = ("facebook/wav2vec2-xls-r-1b", "facebook/mms-300m", "facebook/mms-1b", "facebook/hubert-large-ll60k",
                  "utter-project/mHuBERT-147", "microsoft/wavlm-large")
BUNDLED = (XLSR_300M, W2V_BERT, *OTHER_STUDENTS, LABSE, MBART50_MMT)


def bundled_config_dir(hub_id: str) -> Path | None:
    """The packaged config directory of a hub id, or None when the package does not hold it."""
    path = CONFIG_ROOT / hub_id
    return path if hub_id in BUNDLED and (path / "config.json").is_file() else None


def config_source(name_or_dir: str) -> str:
    """Where to read the architecture of ``name_or_dir``: the local directory itself, else the packaged
    copy of a known hub id, else the hub id (which needs the hub or its cache)."""
    if Path(name_or_dir).is_dir():
        return name_or_dir
    bundled = bundled_config_dir(name_or_dir)
    return str(bundled) if bundled is not None else name_or_dir


def random_teacher(tokenizer_dir: str | Path, hub_id: str = LABSE, device: str = "cpu"):
    """A sentence-transformers teacher of ``hub_id``'s real architecture with random weights
    (LaBSE: BERT with a 501,153-piece vocabulary -> CLS pooling -> Dense 768->768 tanh -> Normalize).

    The real sentencepiece/WordPiece vocabulary is not packaged: ``tokenizer_dir`` holds any BERT
    tokenizer whose ids fit the model's vocabulary (a smaller one is fine for checks and benchmarks).
    """
    import json
    import tempfile

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = bundled_config_dir(hub_id)
    if source is None:
        raise ConfigError(f"no packaged architecture for {hub_id!r}; known: {', '.join(BUNDLED)}")
    settings = json.loads((source / "sentence_bert_config.json").read_text())
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    dense = json.loads((source / "2_Dense" / "config.json").read_text())
    if dense["activation_function"] != "torch.nn.modules.activation.Tanh":
        raise ValueError(f"{source}/2_Dense/config.json: unsupported activation {dense['activation_function']}")
    with tempfile.TemporaryDirectory() as tmp:
        BertModel(BertConfig.from_pretrained(source), add_pooling_layer=False).save_pretrained(tmp)
        AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(tmp)
        transformer = Transformer(tmp, max_seq_length=settings["max_seq_length"],
                                  do_lower_case=settings["do_lower_case"])
    modules = [transformer,
               Pooling(pooling["word_embedding_dimension"],
                       pooling_mode="cls" if pooling["pooling_mode_cls_token"] else "mean"),
               Dense(dense["in_features"], dense["out_features"], bias=dense["bias"]),  # tanh is Dense's default
               Normalize()]
    return SentenceTransformer(modules=modules, device=device)

"""Tiny stand-ins for XLS-R, LaBSE (or BGE-M3) and mBART-50, saved so they load like the real checkpoints.

Each builder writes a directory that the ordinary loaders read (``Wav2Vec2Model.from_pretrained``,
``SentenceTransformer(dir)``, ``MBartForConditionalGeneration.from_pretrained`` +
``AutoTokenizer.from_pretrained``) plus ``sst_tiny.json``, a note on how it was made. The teacher
and the mBART are briefly trained on a corpus's text so they play their real roles: translations
embed close together, and the decoder is a working English decoder.

Over such bases: ``small_st_model`` (an adapter-ST model in memory), ``st_experiment`` (an experiment dir
with one epoch checkpoint, as stage 4 leaves it) and ``packed_st_model`` (that, packed: a ``--model_dir``
for decoding), the one builder the tests and benchmarks share.
"""
from __future__ import annotations

import io
import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
import torchaudio
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
from tokenizers.pre_tokenizers import BertPreTokenizer
from tqdm import tqdm
from transformers import (AutoConfig, AutoTokenizer, BertConfig, BertModel, BertTokenizer, MBartConfig,
                          MBartForConditionalGeneration, PreTrainedModel, PreTrainedTokenizerBase,
                          SeamlessM4TFeatureExtractor, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model,
                          XLMRobertaConfig, XLMRobertaModel)

from sst.data.langs import mbart_code
from sst.testing.corpora import TextPair

if TYPE_CHECKING:
    from sst.models.speech_translation import SpeechTranslationModel

NOTE_NAME = "sst_tiny.json"


def write_note(out_dir: Path, note: dict) -> None:
    """``sst_tiny.json``: how a tiny model was made. Written last, so its presence means complete."""
    (out_dir / NOTE_NAME).write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def update_note(out_dir: Path, key: str, value: object) -> None:
    """Add or replace one entry of a finished model's ``sst_tiny.json``."""
    note = json.loads((Path(out_dir) / NOTE_NAME).read_text(encoding="utf-8"))
    note[key] = value
    write_note(Path(out_dir), note)


def is_built(out_dir: Path) -> bool:
    """True when ``out_dir`` holds a finished tiny model (its note exists)."""
    return (Path(out_dir) / NOTE_NAME).is_file()


def build_tiny_wav2vec2(out_dir: Path, seed: int = 0, hidden_size: int = 64, num_layers: int = 2,
                        num_heads: int = 4, intermediate_size: int = 128,
                        waveforms: list[np.ndarray] | None = None, fbank_steps: int = 600) -> Wav2Vec2Model:
    """A Wav2Vec2Model configured like XLS-R, and its feature extractor, in ``out_dir``.

    The CNN has XLS-R's exact geometry (7 layers, strides 5,2,2,2,2,2,2, kernels 10,3,3,3,3,2,2:
    320 samples per frame, 49 frames per second of 16 kHz audio) with 32 channels per layer. Given
    16 kHz ``waveforms``, the CNN is first fitted to their log-mel filterbanks (see
    :func:`fit_feature_encoder_to_filterbank`); otherwise every weight is random.
    """
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
        intermediate_size=intermediate_size, hidden_act="gelu",
        feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True, feat_extract_activation="gelu",
        conv_dim=(32,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, feat_proj_dropout=0.1,
        layerdrop=0.0, mask_time_prob=0.05, mask_time_length=5, apply_spec_augment=True,
    )
    model = Wav2Vec2Model(config)
    note: dict = {"role": "stand-in for XLS-R (facebook/wav2vec2-xls-r-300m)", "weights": "random", "seed": seed}
    if waveforms:
        unexplained = fit_feature_encoder_to_filterbank(model, waveforms, steps=fbank_steps, seed=seed)
        note["weights"] = (f"CNN fitted to the log-mel filterbanks of {len(waveforms)} clips ({fbank_steps} steps, "
                           f"unexplained variance {unexplained:.3f}); transformer random")
    model.save_pretrained(out_dir)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(out_dir)
    write_note(out_dir, {**note, "parameters": sum(p.numel() for p in model.parameters()), "samples_per_frame": 320})
    return model


# The tiny students of the other classes (wav2vec2 is build_tiny_wav2vec2's): the same 64-dim, 2-layer
# transformer (conformer for w2v-BERT); the CNN family shares XLS-R's CNN geometry (320 samples per frame).
_TINY_TRANSFORMER = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                     "hidden_dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0,
                     "feat_proj_dropout": 0.1, "layerdrop": 0.0, "mask_time_prob": 0.05, "mask_time_length": 5,
                     "apply_spec_augment": True}
_TINY_CNN = {"conv_dim": (32,) * 7, "conv_stride": (5, 2, 2, 2, 2, 2, 2), "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
             "conv_bias": True, "feat_extract_activation": "gelu", "num_conv_pos_embeddings": 16,
             "num_conv_pos_embedding_groups": 4, "hidden_act": "gelu"}
TINY_ENCODER_CONFIGS: dict[str, dict] = {
    "hubert": {**_TINY_TRANSFORMER, **_TINY_CNN, "feat_extract_norm": "layer", "do_stable_layer_norm": True},
    "wavlm": {**_TINY_TRANSFORMER, **_TINY_CNN, "feat_extract_norm": "layer", "do_stable_layer_norm": True,
              "num_buckets": 32, "max_bucket_distance": 100},
    "data2vec-audio": {**_TINY_TRANSFORMER, **_TINY_CNN, "conv_pos_kernel_size": 5},
    "wav2vec2-bert": {**_TINY_TRANSFORMER, "feature_projection_input_dim": 160, "conv_depthwise_kernel_size": 5,
                      "output_hidden_size": 64},
}
TINY_ENCODER_TYPES = ("wav2vec2", *TINY_ENCODER_CONFIGS)


def build_tiny_speech_encoder(model_type: str, out_dir: Path, seed: int = 0) -> PreTrainedModel:
    """A tiny random student of ``model_type`` (``TINY_ENCODER_TYPES``) and its feature extractor in
    ``out_dir``, saved with ``save_pretrained`` as the real checkpoints are."""
    from sst.models.speech_encoder import ENCODER_CLASSES

    if model_type == "wav2vec2":
        return build_tiny_wav2vec2(out_dir, seed=seed)
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    model = ENCODER_CLASSES[model_type](AutoConfig.for_model(model_type, **TINY_ENCODER_CONFIGS[model_type]))
    model.save_pretrained(out_dir)
    if model_type == "wav2vec2-bert":
        SeamlessM4TFeatureExtractor().save_pretrained(out_dir)
    else:
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                 return_attention_mask=True).save_pretrained(out_dir)
    write_note(out_dir, {"role": f"tiny {type(model).__name__} student", "weights": "random", "seed": seed,
                         "parameters": sum(p.numel() for p in model.parameters())})
    return model


def fit_feature_encoder_to_filterbank(model: Wav2Vec2Model, waveforms: list[np.ndarray], steps: int = 600,
                                      batch_size: int = 8, lr: float = 0.01, seed: int = 0,
                                      crop_samples: int = 16000) -> float:
    """Train the CNN feature encoder so that a linear read-out of each frame gives that frame's log-mel
    filterbank (as many bands as CNN channels, 25 ms windows every 20 ms: the CNN's own framing).

    XLS-R's CNN, after pretraining, hands its transformer spectral features; a random CNN of this size
    hands it almost nothing a small model can learn from in minutes. This unsupervised fit (audio only,
    no transcripts) gives the stand-in that property in seconds; each step fits a batch of random
    ``crop_samples``-long windows of the clips. Returns the final fraction of
    unexplained variance (MSE against per-band standardised targets).
    """
    cnn = model.feature_extractor
    channels = model.config.conv_dim[-1]
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=320, n_mels=channels, center=False)
    readout = torch.nn.Linear(channels, channels)
    params = [*cnn.parameters(), *readout.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr)
    clips = [torch.from_numpy((w - w.mean()) / (w.std() + 1e-7)).float() for w in waveforms]
    rng = random.Random(seed)
    cnn.train()
    loss = torch.tensor(1.0)
    for _ in tqdm(range(steps), desc="wav2vec2 CNN", leave=False):
        batch = rng.sample(clips, min(batch_size, len(clips)))
        length = min(crop_samples, *(len(clip) for clip in batch))
        starts = [rng.randrange(len(clip) - length + 1) for clip in batch]
        audio = torch.stack([clip[start:start + length] for clip, start in zip(batch, starts)])
        target = (mel(audio) + 1e-6).log()
        target = (target - target.mean((0, 2), keepdim=True)) / (target.std((0, 2), keepdim=True) + 1e-5)
        frames = readout(cnn(audio).transpose(1, 2)).transpose(1, 2)
        width = min(frames.size(-1), target.size(-1))
        loss = F.mse_loss(frames[..., :width], target[..., :width])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def wordpiece_vocab(texts: list[str]) -> dict[str, int]:
    """A cased WordPiece vocabulary: BERT's special tokens, every word of ``texts`` (split by BERT's
    pre-tokenizer) and every character, alone and as a ``##`` continuation, so no text maps to [UNK]."""
    pre_tokenizer = BertPreTokenizer()
    words = sorted({word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(text)})
    chars = sorted({char for word in words for char in word})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *words]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def _group_by_meaning(pairs: list[TextPair]) -> list[list[str]]:
    """For each distinct English translation: the translation and every distinct transcript of it."""
    groups: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        groups[pair.target].update((pair.source, pair.target))
    return [sorted(groups[target]) for target in sorted(groups)]


def _embed(model: SentenceTransformer, texts: list[str]) -> torch.Tensor:
    """Sentence embeddings with gradients (``encode`` runs without them)."""
    features = model.tokenize(texts)
    return model(dict(features))["sentence_embedding"]


def build_tiny_teacher(out_dir: Path, pairs: list[TextPair], seed: int = 0, dim: int | None = 64,
                       hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                       train_steps: int = 300, batch_size: int = 32, lr: float = 2e-3,
                       scale: float = 20.0, architecture: str = "bert", pooling: str = "mean",
                       normalize: bool = True, role: str = "stand-in for LaBSE (sentence-transformers/LaBSE)",
                       ) -> SentenceTransformer:
    """A tiny LaBSE-like sentence-transformers model (BERT -> mean pooling -> Dense+tanh -> Normalize), or
    another shape: ``architecture`` "xlm-roberta", any sentence-transformers ``pooling`` ("cls" ...), no
    Dense when ``dim`` is None (the embeddings are the pooled ``hidden_size`` vectors), no Normalize.

    Its WordPiece vocabulary holds every word and character of ``pairs`` (transcripts of all
    languages and their English translations). ``train_steps`` steps of in-batch InfoNCE pull texts
    of the same meaning together: each batch holds distinct translations, two random renderings
    (any language, English included) of each.
    """
    out_dir = Path(out_dir)
    start = time.time()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    groups = _group_by_meaning(pairs)
    texts = sorted({text for group in groups for text in group})

    vocab = wordpiece_vocab(texts)
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=False, strip_accents=False)
    shape = dict(vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=num_layers,
                 num_attention_heads=num_heads, intermediate_size=2 * hidden_size)
    # XLM-R numbers positions from its padding id + 1: room for that, with the WordPiece [PAD] (0) as pad.
    backbone = (XLMRobertaModel(XLMRobertaConfig(**shape, max_position_embeddings=66, pad_token_id=0,
                                                 bos_token_id=2, eos_token_id=3, type_vocab_size=1))
                if architecture == "xlm-roberta" else BertModel(BertConfig(**shape, max_position_embeddings=64)))
    with tempfile.TemporaryDirectory() as tmp:
        backbone.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        transformer = Transformer(tmp, max_seq_length=32)
    modules = [transformer, Pooling(hidden_size, pooling_mode=pooling)]
    modules += [Dense(hidden_size, dim)] if dim is not None else []
    modules += [Normalize()] if normalize else []
    model = SentenceTransformer(modules=modules, device="cpu")

    losses = []
    if train_steps > 0:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        labels = torch.arange(min(batch_size, len(groups)))
        model.train()
        for _ in tqdm(range(train_steps), desc="teacher", leave=False):
            batch = rng.sample(groups, len(labels))
            left, right = zip(*(rng.sample(group, 2) if len(group) > 1 else group * 2 for group in batch))
            left_embeddings, right_embeddings = _embed(model, list(left)), _embed(model, list(right))
            if not normalize:  # InfoNCE compares cosines; a Normalize module already made them unit vectors
                left_embeddings = F.normalize(left_embeddings, dim=-1)
                right_embeddings = F.normalize(right_embeddings, dim=-1)
            similarity = scale * left_embeddings @ right_embeddings.T
            loss = (F.cross_entropy(similarity, labels) + F.cross_entropy(similarity.T, labels)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
    model.save(str(out_dir))
    write_note(out_dir, {
        "role": role, "seed": seed,
        "modules": " -> ".join(type(module).__name__ if module is not transformer else type(backbone).__name__
                               for module in modules) + f" ({pooling} pooling)",
        "embedding_dim": model.get_embedding_dimension(),
        "vocab_size": len(vocab), "parameters": sum(p.numel() for p in model.parameters()),
        "training": {"loss": "symmetric in-batch InfoNCE over meanings (any language pair)",
                     "texts": len(texts), "meanings": len(groups), "steps": train_steps,
                     "batch_size": batch_size, "lr": lr, "scale": scale,
                     "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None},
        "seconds": round(time.time() - start, 1),
    })
    return model


def build_tiny_bge_m3(out_dir: Path, pairs: list[TextPair], seed: int = 0, train_steps: int = 2,
                      batch_size: int = 8) -> SentenceTransformer:
    """A tiny BGE-M3-shaped teacher: one XLM-R layer of BGE-M3's width, CLS pooling, Normalize (1024 dims);
    a WordPiece tokenizer stands in for its SentencePiece one."""
    return build_tiny_teacher(out_dir, pairs, seed=seed, dim=None, hidden_size=1024, num_layers=1, num_heads=16,
                              train_steps=train_steps, batch_size=batch_size, architecture="xlm-roberta",
                              pooling="cls", role="stand-in for BGE-M3 (BAAI/bge-m3)")


def teacher_retrieval_recall(model: SentenceTransformer, pairs: list[TextPair]) -> dict[str, float]:
    """Recall@1 of each transcript retrieving its translation among the pairs' distinct translations.

    Returns one value per source language and ``"all"``.
    """
    targets = sorted({pair.target for pair in pairs})
    target_emb = model.encode(targets, convert_to_tensor=True, normalize_embeddings=True)
    source_emb = model.encode([p.source for p in pairs], convert_to_tensor=True, normalize_embeddings=True)
    best = (source_emb @ target_emb.T).argmax(dim=1).tolist()
    hits: dict[str, list[bool]] = defaultdict(list)
    for pair, index in zip(pairs, best):
        hits[pair.lang].append(targets[index] == pair.target)
        hits["all"].append(targets[index] == pair.target)
    return {lang: sum(h) / len(h) for lang, h in sorted(hits.items())}


def teacher_cosines(model: SentenceTransformer, pairs: list[TextPair]) -> dict[str, float]:
    """Mean cosine of each transcript with its own translation and with every other translation."""
    source = model.encode([p.source for p in pairs], convert_to_tensor=True, normalize_embeddings=True)
    target = model.encode([p.target for p in pairs], convert_to_tensor=True, normalize_embeddings=True)
    same = torch.tensor([[a.target == b.target for b in pairs] for a in pairs])
    similarity = source @ target.T
    return {"matching": similarity[same].mean().item(), "other": similarity[~same].mean().item()}


def train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
    """A unigram sentencepiece model (bytes) covering every character of ``texts``."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sorted(set(texts))), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False, num_threads=1,
        minloglevel=2)
    return model.getvalue()


def build_mbart50_tokenizer(out_dir: Path, texts: list[str], vocab_size: int = 400) -> PreTrainedTokenizerBase:
    """An MBart50Tokenizer over a sentencepiece model trained on ``texts``, saved in ``out_dir``.

    The directory holds ``sentencepiece.bpe.model`` as the real mBART-50 checkpoints do, and is read
    back through ``AutoTokenizer`` (fairseq ids: <s>=0 <pad>=1 </s>=2 <unk>=3, then pieces, then the
    52 language codes such as ``en_XX``, then <mask>).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").unlink(missing_ok=True)  # a stale one would win over the new model
    (out_dir / "sentencepiece.bpe.model").write_bytes(train_sentencepiece(texts, vocab_size))
    (out_dir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "MBart50Tokenizer", "src_lang": "en_XX", "tgt_lang": "en_XX"}) + "\n")
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return AutoTokenizer.from_pretrained(out_dir)


def _encoded_pairs(tokenizer: PreTrainedTokenizerBase, pairs: list[TextPair],
                   tgt_code: str = "en_XX") -> list[tuple[list[int], list[int]]]:
    """Per pair, the encoder ids ``<src_code> tokens </s>`` and the labels ``<tgt_code> tokens </s>``."""
    by_lang: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        by_lang[pair.lang].append(index)
    input_ids: list[list[int]] = [[] for _ in pairs]
    for lang, indices in by_lang.items():
        tokenizer.src_lang = mbart_code(lang)
        for index, ids in zip(indices, tokenizer([pairs[i].source for i in indices]).input_ids):
            input_ids[index] = ids
    tokenizer.tgt_lang = tgt_code
    labels = tokenizer(text_target=[pair.target for pair in pairs]).input_ids
    return list(zip(input_ids, labels))


def _padded_batch(tokenizer: PreTrainedTokenizerBase,
                  encoded: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """A batch of ``_encoded_pairs``: input ids and attention mask padded, labels padded with -100."""
    batch = tokenizer.pad({"input_ids": [ids for ids, _ in encoded]}, return_tensors="pt")
    label_batch = tokenizer.pad({"input_ids": [labels for _, labels in encoded]}, return_tensors="pt")
    batch["labels"] = label_batch.input_ids.masked_fill(label_batch.attention_mask == 0, -100)
    return dict(batch)


def greedy_translate(model: MBartForConditionalGeneration, tokenizer: PreTrainedTokenizerBase,
                     pairs: list[TextPair], tgt_code: str = "en_XX", batch_size: int = 64) -> list[str]:
    """Greedy translations of the pairs' transcripts, the target language token forced first.

    Sets ``tokenizer.src_lang`` to each pair's language code in turn.
    """
    hyps: list[str] = []
    model.eval()
    for start in range(0, len(pairs), batch_size):
        batch = _padded_batch(tokenizer, _encoded_pairs(tokenizer, pairs[start:start + batch_size], tgt_code))
        batch.pop("labels")
        with torch.no_grad():
            out = model.generate(**batch, num_beams=1, do_sample=False, max_length=64,
                                 forced_bos_token_id=tokenizer.convert_tokens_to_ids(tgt_code))
        hyps.extend(tokenizer.batch_decode(out, skip_special_tokens=True))
    return [hyp.strip() for hyp in hyps]


def mbart_accuracy(model: MBartForConditionalGeneration, tokenizer: PreTrainedTokenizerBase,
                   pairs: list[TextPair]) -> dict[str, float]:
    """Exact-match accuracy of greedy translations, per source language and ``"all"``."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for pair, hyp in zip(pairs, greedy_translate(model, tokenizer, pairs)):
        hits[pair.lang].append(hyp == pair.target)
        hits["all"].append(hyp == pair.target)
    return {lang: sum(h) / len(h) for lang, h in sorted(hits.items())}


def build_tiny_mbart(out_dir: Path, pairs: list[TextPair], vocab_texts: list[str] | None = None,
                     seed: int = 0, d_model: int = 128, layers: int = 2, heads: int = 4, ffn_dim: int = 256,
                     vocab_size: int = 400, train_steps: int = 1500, batch_size: int = 32,
                     lr: float = 2e-3) -> tuple[MBartForConditionalGeneration, PreTrainedTokenizerBase]:
    """A tiny mBART-50 (model + MBart50Tokenizer) in ``out_dir``, trained as a text X->En translator.

    The sentencepiece vocabulary covers ``vocab_texts`` (default: the pairs' transcripts and
    translations); ``train_steps`` steps of teacher-forced cross-entropy on ``pairs`` (source
    ``<src_code> tokens </s>``, decoder input ``</s> en_XX tokens``, labels ``en_XX tokens </s>``).
    """
    out_dir = Path(out_dir)
    start = time.time()
    rng = random.Random(seed)
    torch.manual_seed(seed)
    if vocab_texts is None:
        vocab_texts = [text for pair in pairs for text in (pair.source, pair.target)]
    tokenizer = build_mbart50_tokenizer(out_dir, vocab_texts, vocab_size)
    config = MBartConfig(
        vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn_dim,
        decoder_ffn_dim=ffn_dim, max_position_embeddings=128, scale_embedding=True,
        activation_function="gelu", dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.convert_tokens_to_ids("<s>"),
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    model = MBartForConditionalGeneration(config)
    losses = []
    if train_steps > 0:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=train_steps,
                                                       pct_start=0.1)
        encoded = _encoded_pairs(tokenizer, pairs)  # once: tokenising every step took a fifth of the time
        model.train()
        for _ in tqdm(range(train_steps), desc="mbart", leave=False):
            loss = model(**_padded_batch(tokenizer, rng.sample(encoded, min(batch_size, len(pairs))))).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        model.eval()
    model.generation_config.max_length = 64
    model.generation_config.num_beams = 1
    model.save_pretrained(out_dir)
    write_note(out_dir, {
        "role": "stand-in for mBART-50 (facebook/mbart-large-50-many-to-many-mmt)", "seed": seed,
        "parameters": sum(p.numel() for p in model.parameters()), "tokenizer_length": len(tokenizer),
        "sentencepiece": {"type": "unigram", "requested_vocab_size": vocab_size,
                          "texts": len(set(vocab_texts))},
        "training": {"task": "text translation X->en", "langs": sorted({p.lang for p in pairs}),
                     "pairs": len(pairs), "steps": train_steps, "batch_size": batch_size, "lr": lr,
                     "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None},
        "seconds": round(time.time() - start, 1),
    })
    return model, tokenizer


def padded_noise(lengths: list[int], seed: int = 0, pad_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random 'speech' padded with ``pad_value``, and its lengths."""
    generator = torch.Generator().manual_seed(seed)
    speech = torch.full((len(lengths), max(lengths)), pad_value)
    for row, length in enumerate(lengths):
        speech[row, :length] = 0.1 * torch.randn(length, generator=generator)
    return speech, torch.tensor(lengths)


def small_st_model(encoder_model: Path, decoder_model: Path, **overrides) -> SpeechTranslationModel:
    """An adapter-ST model over (tiny) bases, built after ``torch.manual_seed(0)``: 16-dim adapters without
    dropout and a 2-layer length adaptor; ``overrides`` are further or other ``model_conf`` entries."""
    from sst.models.speech_translation import SpeechTranslationModel

    torch.manual_seed(0)
    options = dict(encoder_model=str(encoder_model), decoder_model=str(decoder_model), encoder_adapter_dim=16,
                   decoder_adapter_dim=16, adapter_dropout=0.0, length_adaptor_layers=2)
    return SpeechTranslationModel(**{**options, **overrides})


def st_experiment(exp: Path, model_conf: dict, config: dict | None = None, seed: int = 0,
                  move_trained: float = 0.0, bar_eos: bool = False,
                  favour_token: int | None = None) -> tuple[Path, SpeechTranslationModel]:
    """An experiment dir as stage 4 leaves it: ``exp/config.yaml`` (``config`` with ``model_conf``) and one
    epoch checkpoint, ``exp/1epoch.pth``, of ``SpeechTranslationModel(**model_conf)`` built after
    ``torch.manual_seed(seed)``.

    ``move_trained``: its trainable tensors moved by that times standard normal noise (so a package shows
    whether they were kept); ``bar_eos``: its LM-head bias bars ``</s>``, so every decoding runs to
    ``max_length`` (a frozen tensor edited: only a full package holds it); ``favour_token``: that bias makes
    this token id win every step, so each translation is that token repeated (readable text, unlike an
    untrained model's). Returns the checkpoint and the
    model saved in it.
    """
    import yaml

    from sst.models.speech_translation import SpeechTranslationModel

    exp = Path(exp)
    exp.mkdir(parents=True, exist_ok=True)
    (exp / "config.yaml").write_text(yaml.safe_dump({**(config or {}), "model_conf": model_conf}), encoding="utf-8")
    torch.manual_seed(seed)
    model = SpeechTranslationModel(**model_conf)
    with torch.no_grad():
        if move_trained:
            for param in model.parameters():
                if param.requires_grad:
                    param.add_(move_trained * torch.randn_like(param))
        if bar_eos:
            model.mbart.final_logits_bias[:, model.mbart.config.eos_token_id] = -1e4
        if favour_token is not None:
            model.mbart.final_logits_bias[:, favour_token] = 1e4
    torch.save(model.state_dict(), exp / "1epoch.pth")
    return exp / "1epoch.pth", model


def packed_st_model(exp: Path, encoder_model: Path, decoder_model: Path, kind: str = "adapters",
                    adapter_dim: int = 8, length_adaptor_layers: int = 1, **experiment) -> Path:
    """A small adapter-ST model over tiny bases, untrained, packed into ``exp/packed`` as ``kind``
    (``sst.models.packing.pack``): an :func:`st_experiment` (``experiment`` are its options) with
    ``adapter_dim``-wide adapters on both sides. Returns ``exp``, what ``--model_dir`` takes."""
    from sst.models.packing import pack

    model_conf = {"encoder_model": str(encoder_model), "decoder_model": str(decoder_model),
                  "encoder_adapter_dim": adapter_dim, "decoder_adapter_dim": adapter_dim,
                  "length_adaptor_layers": length_adaptor_layers}
    checkpoint, _ = st_experiment(exp, model_conf, **experiment)
    pack(Path(exp), checkpoint, kind)
    return Path(exp)


def packed_repeating_model(exp: Path, encoder_model: Path, decoder_model: Path, word: str = "hello") -> Path:
    """A full :func:`packed_st_model` whose decoder says the first piece of ``word`` over and over (its LM-head
    bias makes it win every step): every translation is readable text, and any variant of decoding agrees."""
    tokenizer = AutoTokenizer.from_pretrained(decoder_model)
    piece = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)[0])
    return packed_st_model(exp, encoder_model, decoder_model, kind="full", favour_token=piece)

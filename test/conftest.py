"""Shared fixtures: tiny corpora in the real CoVoST-2 / Common Voice / Europarl-ST layouts (sst/testing/corpora.py),
tiny models and stage-2 dumps; registers the ``slow`` marker; ``record_timing`` lines are printed at the end of
the run (the CI log shows how long the demo took).

The session-scoped corpora and stage-1 outputs are shared between tests: read them, never modify
them (build a private copy with sst.testing.corpora.make_* into tmp_path when a test must break something).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sst.testing.corpora import (MINI_ST_CORPUS, Covost2Corpus, EuroparlStCorpus, make_covost2_corpus,
                                 make_europarl_st_corpus)


TIMINGS = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than about 20 s (the demo run, two-process training, "
                            "full-size models); tools/test.sh -m 'not slow' leaves these out")
    config.stash[TIMINGS] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if config.stash[TIMINGS]:
        terminalreporter.write_sep("-", "timings")
        for line in config.stash[TIMINGS]:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def record_timing(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Adds a line to the timings printed at the end of the run."""
    return pytestconfig.stash[TIMINGS].append


@pytest.fixture(scope="session")
def covost2_corpus(tmp_path_factory: pytest.TempPathFactory) -> Covost2Corpus:
    """CoVoST-2 fr->en and de->en with Common Voice clips (read-only)."""
    return make_covost2_corpus(tmp_path_factory.mktemp("covost2_corpus"))


@pytest.fixture(scope="session")
def europarl_st_corpus(tmp_path_factory: pytest.TempPathFactory) -> EuroparlStCorpus:
    """Europarl-ST v1.1 fr->en (read-only)."""
    return make_europarl_st_corpus(tmp_path_factory.mktemp("europarl_st_corpus"))


@pytest.fixture(scope="session")
def covost2_data(covost2_corpus: Covost2Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage-1 output for CoVoST-2 fr->en and de->en: ``<dir>/{train,dev,test}_{fr,de}_en`` (read-only)."""
    from sst.bin import prepare_covost2

    out = tmp_path_factory.mktemp("covost2_data")
    for src in ("fr", "de"):
        prepare_covost2.main(["--covost_dir", str(covost2_corpus.covost_dir), "--commonvoice_dir",
                              str(covost2_corpus.commonvoice_dir), "--src_lang", src, "--tgt_lang", "en",
                              "--output_dir", str(out)])
    return out


@pytest.fixture(scope="session")
def europarl_st_data(europarl_st_corpus: EuroparlStCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stage-1 output for Europarl-ST fr->en: ``<dir>/{train,dev,test}_fr_en`` (read-only)."""
    from sst.bin import prepare_europarl_st

    out = tmp_path_factory.mktemp("europarl_st_data")
    prepare_europarl_st.main(["--europarl_dir", str(europarl_st_corpus.europarl_dir), "--src_lang", "fr",
                              "--tgt_lang", "en", "--output_dir", str(out)])
    return out


# ---------------------------------------------------------------- tiny models and stage-2 dumps
# Shared by the model, SAMU and ST tests: tiny HF stand-ins (saved with save_pretrained) and dumps of
# the CoVoST-2 fixture sets carrying everything stage 2 writes (audio, teacher embeddings, text_int).

def fixture_text_pairs() -> list:
    """(lang, transcript, translation) of the mini_st train set and of the CoVoST-2 fixture corpus."""
    from sst.testing.corpora import COVOST_DE_EN, COVOST_FR_EN, TextPair, read_covost_pairs

    extra = [TextPair(lang, row[2], row[3]) for lang, rows in (("fr", COVOST_FR_EN), ("de", COVOST_DE_EN))
             for row in rows if row[2] and row[3]]
    return read_covost_pairs(MINI_ST_CORPUS, ("train",)) + extra


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny XLS-R-shaped Wav2Vec2Model dir (hidden 64, 2 layers; read-only)."""
    from sst.testing.tiny_models import build_tiny_wav2vec2

    out = tmp_path_factory.mktemp("tiny_models") / "wav2vec2"
    build_tiny_wav2vec2(out, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LaBSE-like sentence-transformers dir (64-dim embeddings, 2 training steps; read-only)."""
    from sst.testing.tiny_models import build_tiny_teacher

    out = tmp_path_factory.mktemp("tiny_models") / "teacher"
    build_tiny_teacher(out, fixture_text_pairs(), seed=0, train_steps=2, batch_size=8)
    return out


@pytest.fixture(scope="session")
def tiny_mbart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny mBART-50 dir (d_model 128, 2+2 layers) with an MBart50Tokenizer whose vocabulary covers
    the fixture texts, briefly trained (read-only)."""
    import torch

    from sst.testing.tiny_models import build_tiny_mbart

    torch.set_num_threads(2)
    pairs = fixture_text_pairs()
    out = tmp_path_factory.mktemp("tiny_models") / "mbart"
    build_tiny_mbart(out, pairs[:32] + pairs[-8:], [text for p in pairs for text in (p.source, p.target)],
                     seed=0, train_steps=20, batch_size=8)
    return out


@pytest.fixture(scope="session")
def st_dumps(covost2_data: Path, tiny_teacher: Path, tiny_mbart: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Complete stage-2 dumps of the CoVoST-2 fixture: ``<dir>/{train_fr_en,dev_fr_en,train_de_en}`` and
    ``<dir>/train_multi`` (fr+de), each with teacher_embed.scp/.ark, text_int, text_shape (read-only)."""
    from sst.testing.corpora import write_dump_config
    from sst.bin import combine_data, dump_audio, embed_teacher, tokenize_targets

    out = tmp_path_factory.mktemp("st_dumps")
    config = write_dump_config(out / "dump.yaml")
    names = ("train_fr_en", "dev_fr_en", "train_de_en")
    dump_audio.main(["--data_dir", *(str(covost2_data / name) for name in names),
                     "--output_dir", *(str(out / name) for name in names), "--config", str(config)])
    combine_data.main(["--output_dir", str(out / "train_multi"), str(out / "train_fr_en"), str(out / "train_de_en")])
    dump_dirs = [str(out / name) for name in (*names, "train_multi")]
    embed_teacher.main(["--dump_dirs", *dump_dirs, "--teacher_model", str(tiny_teacher)])
    tokenize_targets.main(["--dump_dirs", *dump_dirs, "--decoder_model", str(tiny_mbart)])
    return out

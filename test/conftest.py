"""Shared fixtures: tiny corpora in the real CoVoST-2 / Common Voice / Europarl-ST layouts (see corpora.py).

The session-scoped corpora and stage-1 outputs are shared between tests: read them, never modify
them (build a private copy with corpora.make_* into tmp_path when a test must break something).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from corpora import Covost2Corpus, EuroparlStCorpus, make_covost2_corpus, make_europarl_st_corpus


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

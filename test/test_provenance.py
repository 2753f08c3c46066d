"""Provenance (sst.data.provenance): stage 2 redoes exactly what changed since its outputs were made."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from sst.testing.corpora import write_dump_config
from sst.bin import dump_audio, embed_teacher, tokenize_targets
from sst.io import read_kv, write_kv
from sst.data.provenance import Provenance, changes, model_fingerprint


def test_changes_names_what_differs() -> None:
    recorded = {"model": {"path": "/m", "files": {"config.json": "a", "model.safetensors": "b"}}, "beam": 5}
    current = {"model": {"path": "/m", "files": {"config.json": "a", "model.safetensors": "c"}}, "beam": 8}
    assert changes(recorded, current) == ["beam", "model.files.model.safetensors"]
    assert changes(recorded, recorded) == []


def test_model_fingerprint_of_a_dir_and_of_a_hub_id(tiny_mbart: Path, tmp_path: Path, monkeypatch) -> None:
    local = model_fingerprint(tiny_mbart)
    assert local["path"] == str(tiny_mbart.resolve()) and "config.json" in local["files"]
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    snapshot = tmp_path / "models--org--name" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    blob = tmp_path / "models--org--name" / "blobs" / "sha1234"
    blob.parent.mkdir()
    blob.write_text("{}")
    (snapshot / "config.json").symlink_to(blob)
    assert model_fingerprint("org/name") == {"id": "org/name", "cache": {"abc/config.json": "sha1234"}}
    assert model_fingerprint("org/absent") == {"id": "org/absent", "cache": {}}


def edit_text(path: Path, utt: str, text: str) -> None:
    values = read_kv(path)
    values[utt] = text
    write_kv(path, values)


def test_edited_texts_redo_targets_and_teacher_for_those_utterances(
        covost2_data: Path, tiny_teacher: Path, tiny_mbart: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    data, dump = tmp_path / "data" / "train_fr_en", tmp_path / "dump" / "train_fr_en"
    shutil.copytree(covost2_data / "train_fr_en", data)
    config = write_dump_config(tmp_path / "dump.yaml")

    def stage_2(teacher: Path = tiny_teacher, decoder: Path = tiny_mbart) -> None:
        dump_audio.main(["--data_dir", str(data), "--output_dir", str(dump), "--config", str(config)])
        embed_teacher.main(["--dump_dir", str(dump), "--teacher_model", str(teacher)])
        tokenize_targets.main(["--dump_dir", str(dump), "--decoder_model", str(decoder)])

    stage_2()
    utts = sorted(read_kv(dump / "wav.scp"))
    before_vectors = dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))
    before_ids = read_kv(dump / "text_int")
    flacs = {p: p.stat().st_mtime_ns for p in (dump / "audio").glob("*.flac")}
    # a new translation (text.en) for one utterance, a new transcript (text.fr) for another
    edit_text(data / "text.en", utts[0], "the cat")
    edit_text(data / "text.fr", utts[1], "le chat")
    caplog.set_level(logging.INFO)
    stage_2()

    assert {p: p.stat().st_mtime_ns for p in flacs} == flacs  # the audio did not change
    assert read_kv(dump / "translation")[utts[0]] == "the cat"
    after_ids = read_kv(dump / "text_int")
    assert after_ids[utts[0]] != before_ids[utts[0]]
    assert {u: after_ids[u] for u in utts[1:]} == {u: before_ids[u] for u in utts[1:]}
    assert any(f"{dump / 'text_int'}: (re)doing (changed: translation)" in m for m in caplog.messages)
    after_vectors = dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))
    expected = SentenceTransformer(str(tiny_teacher), device="cpu").encode(["le chat"])[0]
    np.testing.assert_allclose(after_vectors[utts[1]], expected, rtol=1e-4, atol=1e-5)
    for utt in (utts[0], *utts[2:]):
        assert np.array_equal(after_vectors[utt], before_vectors[utt]), utt
    assert f"{dump / 'teacher_embed.scp'}: 1 of {len(utts)} utterances new or changed (e.g. {utts[1]})" in caplog.messages

    caplog.clear()  # another decoder (here: a copy elsewhere) and another teacher redo all of their outputs
    other_mbart, other_teacher = tmp_path / "mbart", tmp_path / "teacher"
    shutil.copytree(tiny_mbart, other_mbart)
    shutil.copytree(tiny_teacher, other_teacher)
    stage_2(other_teacher, other_mbart)
    assert any(f"{dump / 'text_int'}: (re)doing (changed: tokenizer.path" in m for m in caplog.messages)
    assert f"{dump / 'teacher_embed.scp'}: {len(utts)} of {len(utts)} utterances new or changed (e.g. {utts[0]})" \
        in caplog.messages
    assert Provenance(dump, "tokenize_targets").recorded()["tokenizer"]["path"] == str(other_mbart)

    caplog.clear()  # nothing changed: nothing redone
    stage_2(other_teacher, other_mbart)
    assert sum("already done from the same inputs" in m for m in caplog.messages) == 3


def test_embed_teacher_after_utterances_were_dropped_embeds_nothing_new(
        st_dumps: Path, tiny_teacher: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dump = tmp_path / "train_fr_en"
    shutil.copytree(st_dumps / "train_fr_en", dump)
    transcripts = read_kv(dump / "transcript")
    dropped = min(transcripts)
    write_kv(dump / "transcript", {u: t for u, t in transcripts.items() if u != dropped})
    before = dict(kaldiio.load_scp(str(st_dumps / "train_fr_en" / "teacher_embed.scp")))
    caplog.set_level(logging.INFO)
    embed_teacher.main(["--dump_dir", str(dump), "--teacher_model", str(tiny_teacher)])
    after = dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))
    assert sorted(after) == sorted(set(transcripts) - {dropped})
    assert all(np.array_equal(after[u], before[u]) for u in after)
    assert f"wrote {dump / 'teacher_embed.scp'} ({len(after)} utterances, 0 embedded now)" in caplog.messages

"""Stage 2, model side: teacher embeddings (sst.bin.embed_teacher) and decoder targets (sst.bin.tokenize_targets)."""
from __future__ import annotations

import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

from sst.bin import embed_teacher, tokenize_targets
from sst.io import DataDirError, read_kv

SETS = ("train_fr_en", "dev_fr_en", "train_de_en", "train_multi")


def copy_texts(src: Path, dst: Path) -> Path:
    """A private dump dir holding only the text files of ``src`` (no stage-2 model outputs)."""
    dst.mkdir(parents=True)
    for name in ("wav.scp", "transcript", "translation", "utt2lang", "utt2tgt_lang"):
        shutil.copy(src / name, dst / name)
    return dst


def mtimes(directory: Path, names: tuple[str, ...]) -> dict[str, int]:
    return {name: (directory / name).stat().st_mtime_ns for name in names}


# ---------------------------------------------------------------- embed_teacher

@pytest.mark.parametrize("set_name", SETS)
def test_teacher_embeddings_are_the_teachers(st_dumps: Path, tiny_teacher: Path, set_name: str) -> None:
    dump = st_dumps / set_name
    transcripts = read_kv(dump / "transcript")
    stored = dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))
    assert sorted(stored) == sorted(transcripts)
    teacher = SentenceTransformer(str(tiny_teacher), device="cpu")
    utts = sorted(transcripts)
    expected = teacher.encode([transcripts[u] for u in utts], convert_to_numpy=True)
    for utt, vector in zip(utts, expected):
        assert stored[utt].dtype == np.float32 and stored[utt].shape == (64,), utt
        np.testing.assert_allclose(stored[utt], vector, rtol=1e-4, atol=1e-5)
        assert abs(np.linalg.norm(stored[utt]) - 1.0) < 1e-4  # LaBSE-like: normalised
    for line in (dump / "teacher_embed.scp").read_text(encoding="utf-8").splitlines():
        assert Path(line.split(maxsplit=1)[1].rsplit(":", 1)[0]).is_absolute(), line


def test_embed_teacher_relative_dump_dir_works_from_any_cwd_and_skips(
        st_dumps: Path, tiny_teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_texts(st_dumps / "train_fr_en", tmp_path / "dump" / "train_fr_en")
    monkeypatch.chdir(tmp_path)
    argv = ["--dump_dir", "dump/train_fr_en", "--teacher_model", str(tiny_teacher), "--batch_size", "2"]
    embed_teacher.main(argv)
    dump = tmp_path / "dump" / "train_fr_en"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    stored = dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))
    reference = dict(kaldiio.load_scp(str(st_dumps / "train_fr_en" / "teacher_embed.scp")))
    assert sorted(stored) == sorted(reference)
    for utt in reference:
        np.testing.assert_allclose(stored[utt], reference[utt], rtol=1e-4, atol=1e-5)

    stamps = mtimes(dump, ("teacher_embed.scp", "teacher_embed.ark"))
    monkeypatch.chdir(tmp_path)
    embed_teacher.main(argv)
    assert mtimes(dump, ("teacher_embed.scp", "teacher_embed.ark")) == stamps


def test_embed_teacher_redoes_an_incomplete_scp(st_dumps: Path, tiny_teacher: Path, tmp_path: Path) -> None:
    dump = copy_texts(st_dumps / "train_fr_en", tmp_path / "train_fr_en")
    first = (st_dumps / "train_fr_en" / "teacher_embed.scp").read_text(encoding="utf-8").splitlines()[0]
    (dump / "teacher_embed.scp").write_text(first + "\n", encoding="utf-8")
    embed_teacher.main(["--dump_dir", str(dump), "--teacher_model", str(tiny_teacher)])
    assert sorted(dict(kaldiio.load_scp(str(dump / "teacher_embed.scp")))) == sorted(read_kv(dump / "transcript"))


def test_embed_teacher_names_an_empty_transcript(st_dumps: Path, tiny_teacher: Path, tmp_path: Path) -> None:
    dump = copy_texts(st_dumps / "train_fr_en", tmp_path / "train_fr_en")
    lines = (dump / "transcript").read_text(encoding="utf-8").splitlines()
    utt = lines[1].split()[0]
    lines[1] = utt + " "
    (dump / "transcript").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataDirError, match=f"transcript: empty text for utterance {utt}"):
        embed_teacher.main(["--dump_dir", str(dump), "--teacher_model", str(tiny_teacher)])
    assert not (dump / "teacher_embed.scp").exists()


# ---------------------------------------------------------------- tokenize_targets

@pytest.mark.parametrize("set_name", SETS)
def test_text_int_is_lang_pieces_eos(st_dumps: Path, tiny_mbart: Path, set_name: str) -> None:
    dump = st_dumps / set_name
    tokenizer = AutoTokenizer.from_pretrained(tiny_mbart)
    translations = read_kv(dump / "translation")
    text_int = (dump / "text_int").read_text(encoding="utf-8").splitlines()
    assert [line.split()[0] for line in text_int] == sorted(translations)
    shapes = read_kv(dump / "text_shape")
    en_xx = tokenizer.convert_tokens_to_ids("en_XX")
    for line in text_int:
        utt, *ids = line.split()
        ids = [int(i) for i in ids]
        assert ids[0] == en_xx and ids[-1] == tokenizer.eos_token_id == 2, utt
        assert ids[1:-1] == tokenizer(translations[utt], add_special_tokens=False).input_ids, utt
        assert tokenizer.unk_token_id not in ids, utt
        assert tokenizer.decode(ids, skip_special_tokens=True) == translations[utt]
        assert shapes[utt] == str(len(ids))


def test_tokenize_targets_follows_utt2tgt_lang_and_skips(st_dumps: Path, tiny_mbart: Path, tmp_path: Path) -> None:
    dump = copy_texts(st_dumps / "train_multi", tmp_path / "train_multi")
    tgt_langs = read_kv(dump / "utt2tgt_lang")
    retargeted = sorted(tgt_langs)[0]
    tgt_langs[retargeted] = "de"
    (dump / "utt2tgt_lang").write_text("".join(f"{u} {tgt_langs[u]}\n" for u in sorted(tgt_langs)), encoding="utf-8")
    argv = ["--dump_dir", str(dump), "--decoder_model", str(tiny_mbart)]
    tokenize_targets.main(argv)
    tokenizer = AutoTokenizer.from_pretrained(tiny_mbart)
    first_ids = {line.split()[0]: int(line.split()[1])
                 for line in (dump / "text_int").read_text(encoding="utf-8").splitlines()}
    assert first_ids[retargeted] == tokenizer.convert_tokens_to_ids("de_DE")
    assert {first_ids[u] for u in first_ids if u != retargeted} == {tokenizer.convert_tokens_to_ids("en_XX")}

    stamps = mtimes(dump, ("text_int", "text_shape"))
    tokenize_targets.main(argv)
    assert mtimes(dump, ("text_int", "text_shape")) == stamps


def test_tokenize_targets_errors(st_dumps: Path, tiny_mbart: Path, tmp_path: Path) -> None:
    dump = copy_texts(st_dumps / "train_fr_en", tmp_path / "train_fr_en")
    lines = (dump / "utt2tgt_lang").read_text(encoding="utf-8").splitlines()
    missing = lines[0].split()[0]
    (dump / "utt2tgt_lang").write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    argv = ["--dump_dir", str(dump), "--decoder_model", str(tiny_mbart)]
    with pytest.raises(DataDirError, match=f"utt2tgt_lang: no target language for utterance {missing}"):
        tokenize_targets.main(argv)
    (dump / "utt2tgt_lang").write_text("\n".join([f"{missing} xx", *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(DataDirError, match=f"utterance {missing}: .*'xx' has no mBART-50 language code"):
        tokenize_targets.main(argv)
    assert not (dump / "text_int").exists()

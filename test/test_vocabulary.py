"""Target-vocabulary trimming: the id maps, the stage-2 entry point, the trimmed model and its package."""
from __future__ import annotations

import argparse
import copy
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer

from sst.bin import target_vocab, tokenize_targets
from sst.io import DataDirError, read_kv
from sst.data.langs import MBART50_CODES
from sst.models.packing import load_packed, pack
from sst.models.speech_translation import SpeechTranslationModel
from sst.models.vocabulary import (SPECIAL_IDS, TRIMMED, UNK_ID, check_trimmed_targets, read_vocabulary,
                                   required_ids, to_mbart, to_trimmed, write_vocabulary)
from sst.tasks.launch import experiment_fingerprint
from sst.testing.tiny_models import padded_noise, small_st_model


@pytest.fixture(autouse=True)
def two_threads() -> None:
    torch.set_num_threads(2)


def st_model(encoder: Path, decoder: Path, **overrides) -> SpeechTranslationModel:
    return small_st_model(encoder, decoder, **overrides).eval()


# ---------------------------------------------------------------- id maps and the file

def test_ids_round_trip_and_out_of_subset_ids_become_unk(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    write_vocabulary(path, [17, 0, 1, 2, 3, 250001, 42, 17])
    assert path.read_text() == "0\n1\n2\n3\n17\n42\n250001\n"
    vocabulary = torch.tensor(read_vocabulary(path))
    kept = torch.tensor([[0, 2, 42, 250001, 17], [3, 1, 17, 17, 2]])
    trimmed = to_trimmed(kept, vocabulary)
    assert trimmed.tolist() == [[0, 2, 5, 6, 4], [3, 1, 4, 4, 2]]
    assert torch.equal(to_mbart(trimmed, vocabulary), kept)
    assert to_trimmed(torch.tensor([5, 43, 250053, 16]), vocabulary).tolist() == [UNK_ID] * 4


@pytest.mark.parametrize("text, error", [("0\n1\n2\n3\n9\n9\n", "vocab.txt:6: expected one id"),
                                         ("0\n1\n3\n7\n", "must start with the special ids"),
                                         ("0\n1\n2\n3\nfoo\n", "vocab.txt:5: expected one id")])
def test_a_malformed_vocabulary_is_named_by_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "vocab.txt").write_text(text)
    with pytest.raises(DataDirError, match=error):
        read_vocabulary(tmp_path / "vocab.txt")


# ---------------------------------------------------------------- stage 2: sst.bin.target_vocab

def copy_targets(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("translation", "utt2tgt_lang", "text_int", "text_shape"):
        shutil.copy(src / name, dst / name)
    return dst


def test_stage2_writes_vocabulary_and_trimmed_ids_and_skips_what_is_current(st_dumps: Path, tiny_mbart: Path,
                                                                           tmp_path: Path) -> None:
    train = [copy_targets(st_dumps / name, tmp_path / name) for name in ("train_fr_en", "train_de_en")]
    dev = copy_targets(st_dumps / "dev_fr_en", tmp_path / "dev_fr_en")
    extra = tmp_path / "extra.txt"
    extra.write_text("Goodbye and thanks\n", encoding="utf-8")
    output = tmp_path / "target_vocab_fr.de.txt"
    argv = ["--train_dump_dirs", *map(str, train), "--dump_dirs", *map(str, [*train, dev]), "--output", str(output),
            "--decoder_model", str(tiny_mbart)]
    target_vocab.main(argv)

    tokenizer = AutoTokenizer.from_pretrained(tiny_mbart)
    ids = read_vocabulary(output)
    train_ids = {int(i) for d in train for line in read_kv(d / "text_int").values() for i in line.split()}
    codes = set(tokenizer.convert_tokens_to_ids(list(MBART50_CODES.values())))
    assert set(ids) == train_ids | codes | set(SPECIAL_IDS) == required_ids(tokenizer) | train_ids
    assert len(codes) == 52 and len(ids) < len(tokenizer)
    vocabulary = torch.tensor(ids)
    for dump in (*train, dev):
        full, trimmed = read_kv(dump / "text_int"), read_kv(dump / TRIMMED)
        assert sorted(full) == sorted(trimmed)
        for utt in full:
            expected = to_trimmed(torch.tensor([int(i) for i in full[utt].split()]), vocabulary).tolist()
            assert [int(i) for i in trimmed[utt].split()] == expected
        check_trimmed_targets(dump, TRIMMED, output)
    # The training targets map back without loss.
    for utt, line in read_kv(train[0] / TRIMMED).items():
        back = to_mbart(torch.tensor([int(i) for i in line.split()]), vocabulary).tolist()
        assert " ".join(map(str, back)) == read_kv(train[0] / "text_int")[utt]

    stamps = {p: p.stat().st_mtime_ns for p in [output, *(d / TRIMMED for d in (*train, dev))]}
    target_vocab.main(argv)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # A changed training translation: its targets, then the vocabulary and every trimmed file are redone.
    translations = read_kv(train[0] / "translation")
    utt = sorted(translations)[0]
    (train[0] / "translation").write_text("".join(f"{u} {'Zebra quartz' if u == utt else t}\n"
                                                  for u, t in sorted(translations.items())), encoding="utf-8")
    tokenize_targets.main(["--dump_dirs", str(train[0]), "--decoder_model", str(tiny_mbart)])
    target_vocab.main(argv + ["--extra_text", str(extra)])
    new_ids = set(read_vocabulary(output))
    assert set(tokenizer("Zebra quartz", add_special_tokens=False).input_ids) <= new_ids
    assert set(tokenizer("Goodbye and thanks", add_special_tokens=False).input_ids) <= new_ids
    assert all(p.stat().st_mtime_ns != stamp for p, stamp in stamps.items())
    check_trimmed_targets(dev, TRIMMED, output)
    zebra = set(tokenizer("Zebra quartz", add_special_tokens=False).input_ids) - set(SPECIAL_IDS)
    write_vocabulary(tmp_path / "other.txt", new_ids - zebra)
    with pytest.raises(DataDirError, match="not text_int in the ids of"):
        check_trimmed_targets(train[0], TRIMMED, tmp_path / "other.txt")


def test_a_changed_vocabulary_is_another_experiment(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"model_conf": {"target_vocabulary": str(tmp_path / "v.txt")}}))
    args = argparse.Namespace(config=config, train_dump=tmp_path, valid_dump=tmp_path)
    write_vocabulary(tmp_path / "v.txt", [0, 1, 2, 3, 10])
    first = experiment_fingerprint(args, [], {}, [], {"target_vocabulary": None})
    write_vocabulary(tmp_path / "v.txt", [0, 1, 2, 3, 11])
    assert experiment_fingerprint(args, [], {}, [], {"target_vocabulary": None}) != first
    assert "model_conf_files" not in experiment_fingerprint(args, [], {}, [])


# ---------------------------------------------------------------- the trimmed model

@pytest.fixture(scope="module")
def models(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path_factory: pytest.TempPathFactory):
    """An untrimmed model, its hypotheses, and a trimmed model of the same weights whose vocabulary holds
    exactly the ids those hypotheses use (plus the specials and language codes)."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_mbart)
    full = st_model(tiny_wav2vec2, tiny_mbart)
    speech, lengths = padded_noise([16000, 9000, 12000], seed=3)
    languages = torch.tensor(tokenizer.convert_tokens_to_ids(["en_XX", "de_DE", "fr_XX"]))
    hyps = {beam: full.translate(speech, lengths, languages, beam_size=beam, max_length=12) for beam in (1, 5)}
    path = tmp_path_factory.mktemp("vocabulary") / "vocab.txt"
    write_vocabulary(path, required_ids(tokenizer).union(*(ids for rows in hyps.values() for ids in rows)))
    trimmed = st_model(tiny_wav2vec2, tiny_mbart, target_vocabulary=str(path))
    hyps["trimmed_beam"] = trimmed.translate(speech, lengths, languages, beam_size=5, max_length=12)
    return full, trimmed, tokenizer, path, (speech, lengths, languages), hyps


def test_trimmed_model_keeps_only_the_subsets_rows(models) -> None:
    full, trimmed, _, path, _, _ = models
    ids = read_vocabulary(path)
    assert trimmed.mbart.config.vocab_size == len(ids) < full.mbart.config.vocab_size
    assert trimmed.mbart.lm_head.weight is trimmed.mbart.model.shared.weight
    assert trimmed.mbart.model.decoder.embed_tokens is trimmed.mbart.model.shared
    assert torch.equal(trimmed.mbart.model.shared.weight, full.mbart.model.shared.weight[ids])
    assert torch.equal(trimmed.mbart.final_logits_bias, full.mbart.final_logits_bias[:, ids])
    assert not trimmed.mbart.model.shared.weight.requires_grad
    shared = {k: v for k, v in full.state_dict().items() if k in trimmed.state_dict()
              and v.shape == trimmed.state_dict()[k].shape}
    assert all(torch.equal(trimmed.state_dict()[k], v) for k, v in shared.items())
    assert torch.equal(trimmed.target_vocabulary_ids, torch.tensor(ids))
    # Not a state-dict entry: ESPnet's n-best averaging would sum it over the averaged checkpoints.
    assert "target_vocabulary_ids" not in trimmed.state_dict()


def test_trimmed_and_untrimmed_models_give_identical_greedy_hypotheses(models) -> None:
    """Exact for the greedy search: dropping rows that are never the argmax does not move the argmax. A beam
    search scores hypotheses by log-probabilities normalised over the subset, so its ranking may differ."""
    full, trimmed, tokenizer, path, (speech, lengths, languages), hyps = models
    assert all(hyps[1])  # the case is not trivial: every hypothesis has tokens
    greedy = trimmed.translate(speech, lengths, languages, beam_size=1, max_length=12)
    assert greedy == hyps[1]
    assert tokenizer.batch_decode(greedy, skip_special_tokens=True) == tokenizer.batch_decode(hyps[1],
                                                                                            skip_special_tokens=True)
    beam = hyps["trimmed_beam"]
    assert len(beam) == 3 and all(row and set(row) <= set(read_vocabulary(path)) for row in beam)  # mBART ids


def test_beam_search_is_identical_where_no_token_outside_the_subset_can_win(models) -> None:
    """The untrimmed model with every row outside the subset pushed to probability 0 (a logit bias of -1e9,
    exp() of it is 0 in fp32) is one whose search never picks such a token: its beam hypotheses and the
    trimmed model's must be the same ids (the normalisation over the vocabulary is then the same too)."""
    full, _, _, path, (speech, lengths, languages), hyps = models
    never = copy.deepcopy(full)
    outside = torch.ones(never.mbart.config.vocab_size, dtype=torch.bool)
    outside[read_vocabulary(path)] = False
    assert outside.any()
    never.mbart.final_logits_bias[:, outside] = -1e9
    assert never.translate(speech, lengths, languages, beam_size=5, max_length=12) == hyps["trimmed_beam"]


def test_training_step_on_the_trimmed_model_has_logits_of_the_subsets_width(models) -> None:
    _, trimmed, tokenizer, path, (speech, lengths, _), _ = models
    vocabulary = torch.tensor(read_vocabulary(path))
    rows = [tokenize_targets.target_ids(tokenizer, "Thank you", "en"), tokenize_targets.target_ids(tokenizer, "Hi", "de")]
    text = torch.full((2, max(map(len, rows))), -1)
    for row, ids in enumerate(rows):
        text[row, : len(ids)] = to_trimmed(torch.tensor(ids), vocabulary)
    widths = []
    hook = trimmed.mbart.lm_head.register_forward_hook(lambda module, inputs, output: widths.append(output.shape))
    trimmed.train()
    try:
        loss, stats, _ = trimmed(speech[:2], lengths[:2], text, torch.tensor(list(map(len, rows))))
        loss.backward()
    finally:
        hook.remove()
        trimmed.eval()
        trimmed.zero_grad(set_to_none=True)
    scored = sum(len(ids) - 1 for ids in rows)
    assert widths == [torch.Size([scored, len(vocabulary)])]
    assert torch.isfinite(loss) and 0.0 <= float(stats["acc"]) <= 1.0


def test_package_of_a_trimmed_model_is_self_contained_and_decodes_the_same(models, tiny_wav2vec2: Path,
                                                                          tiny_mbart: Path, tmp_path: Path) -> None:
    _, trimmed, _, path, (speech, lengths, languages), hyps = models
    exp = tmp_path / "exp"
    exp.mkdir()
    vocabulary = tmp_path / "elsewhere" / "vocab.txt"
    vocabulary.parent.mkdir()
    shutil.copy(path, vocabulary)
    model_conf = {"encoder_model": str(tiny_wav2vec2), "decoder_model": str(tiny_mbart), "encoder_adapter_dim": 16,
                  "decoder_adapter_dim": 16, "adapter_dropout": 0.0, "length_adaptor_layers": 2,
                  "target_vocabulary": str(vocabulary)}
    (exp / "config.yaml").write_text(yaml.safe_dump({"model_conf": model_conf}), encoding="utf-8")
    torch.save(trimmed.state_dict(), exp / "1epoch.pth")
    packed = pack(exp, exp / "1epoch.pth")
    shutil.rmtree(vocabulary.parent)
    assert yaml.safe_load((packed / "config.yaml").read_text())["model_conf"]["target_vocabulary"] == \
        "target_vocabulary.txt"
    model, _ = load_packed(exp)
    assert model.mbart.config.vocab_size == len(read_vocabulary(path))
    assert model.translate(speech, lengths, languages, beam_size=5, max_length=12) == hyps["trimmed_beam"]


def test_check_config_builds_a_trimmed_model_at_full_size(tmp_path: Path) -> None:
    """On the meta device, with the real mBART-50 (250,054 rows): the subset's rows are kept; a vocabulary
    that stage 2 has not written yet is a note, and the untrimmed model is checked."""
    from sst.bin import check_config

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "egs/covost2/conf/tuning/train_st_samu_adapter.yaml").read_text())
    config["model_conf"]["target_vocabulary"] = "dump/target_vocab_fr.de.txt"
    path = tmp_path / "recipe" / "conf" / "tuning" / "train_st_trimmed.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(config))
    report, notes = check_config.check_config(path)
    assert any("target_vocabulary" in note and "does not exist yet" in note for note in notes)
    write_vocabulary(tmp_path / "recipe" / "dump" / "target_vocab_fr.de.txt", range(32000))
    trimmed_report, notes = check_config.check_config(path)
    assert not any("target_vocabulary" in note for note in notes)
    assert report["total"]["frozen"] - trimmed_report["total"]["frozen"] == (250_054 - 32_000) * 1024
    assert report["total"]["trainable"] == trimmed_report["total"]["trainable"] == 75_641_856


def test_stages_2_to_5_with_a_trimmed_vocabulary(st_dumps: Path, tiny_wav2vec2: Path, tiny_mbart: Path,
                                                 tmp_path: Path) -> None:
    """target_vocab -> st_train --target_vocabulary (ESPnet reads text_int_trimmed) -> st_inference: text out."""
    from test_entry_points import ST_YAML, one_thread, write_yaml

    from sst.bin import st_inference, st_train

    dumps = {name: tmp_path / "dump" / name for name in ("train_multi", "dev_fr_en")}
    for name, dump in dumps.items():
        shutil.copytree(st_dumps / name, dump)
    vocabulary = tmp_path / "dump" / "target_vocab_multi.txt"
    target_vocab.main(["--train_dump_dirs", str(dumps["train_multi"]), "--dump_dirs", *map(str, dumps.values()),
                       "--output", str(vocabulary), "--decoder_model", str(tiny_mbart)])
    config = write_yaml(tmp_path / "conf" / "train_st.yaml", ST_YAML.replace("keep_nbest_models: 3", "keep_nbest_models: 1"),
                        1, lr=0.003, batch_bins=32000)
    exp = tmp_path / "exp" / "st_trimmed"
    argv = ["--config", str(config), "--train_dump", str(dumps["train_multi"]), "--valid_dump", str(dumps["dev_fr_en"]),
            "--output_dir", str(exp), "--encoder_model", str(tiny_wav2vec2), "--decoder_model", str(tiny_mbart)]
    with one_thread():
        st_train.main(argv + ["--target_vocabulary", str(vocabulary)])
    assert yaml.safe_load((exp / "config.yaml").read_text())["model_conf"]["target_vocabulary"] == str(vocabulary)
    assert (exp / "packed" / "target_vocabulary.txt").read_bytes() == vocabulary.read_bytes()
    with pytest.raises(SystemExit, match="other inputs"):  # the untrimmed model is another experiment
        st_train.main(argv)
    st_inference.main(["--model_dir", str(exp), "--dump_dir", str(dumps["dev_fr_en"]), "--output_dir",
                       str(tmp_path / "decode"), "--beam_size", "2", "--max_length", "6"])
    hyps = read_kv(tmp_path / "decode" / "hyp")
    assert sorted(hyps) == sorted(read_kv(dumps["dev_fr_en"] / "translation"))

"""Packed models: adapter-only and full packages of one checkpoint, the base check, the model card and the
package's fingerprint (sst.models.packing, sst.models.model_card)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from transformers import MBartForConditionalGeneration

from sst.bin import score
from sst.io import write_kv
from sst.data.provenance import model_fingerprint
from sst.models.hub import ModelNotFoundError
from sst.models.model_card import CARD, MANIFEST
from sst.models.packing import PackageError, load_packed, pack, package_kind
from sst.models.pretrained import language_token_id
from sst.testing.tiny_models import st_experiment

MODEL_CONF = {"freeze": ["encoder", "decoder"], "encoder_adapter_dim": 8, "decoder_adapter_dim": 8,
              "adapter_dropout": 0.0, "length_adaptor_layers": 1}


@dataclass
class Packages:
    """One experiment's checkpoint packed both ways."""

    exp: Path
    adapters: Path
    full: Path
    trainable: set[str]


def make_experiment(exp: Path, encoder: Path, decoder: Path) -> tuple[Path, set[str]]:
    """An experiment dir as stage 4 leaves it (config.yaml naming a train dump, one epoch checkpoint) whose
    trained tensors moved away from their initial values; returns the checkpoint and the trainable names."""
    dump = exp.parents[1] / "dump" / "train_fr.de"
    dump.mkdir(parents=True, exist_ok=True)
    utts = {"u1": "fr", "u2": "fr", "u3": "de"}
    write_kv(dump / "wav.scp", {utt: f"/audio/{utt}.flac" for utt in utts})
    write_kv(dump / "utt2lang", utts)
    write_kv(dump / "utt2tgt_lang", {utt: "en" for utt in utts})
    model_conf = {"encoder_model": str(encoder), "decoder_model": str(decoder), **MODEL_CONF}
    config = {"train_data_path_and_name_and_type": [[str(dump / "wav.scp"), "speech", "sound"]],
              "optim": "adam", "optim_conf": {"lr": 0.003}, "max_epoch": 3}
    checkpoint, model = st_experiment(exp, model_conf, config, move_trained=0.05)
    return checkpoint, {name for name, param in model.named_parameters() if param.requires_grad}


@pytest.fixture(scope="module")
def packages(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path_factory: pytest.TempPathFactory) -> Packages:
    """A tiny experiment packed adapter-only (its ``packed/``) and full (``packed_full/``) (read-only)."""
    exp = tmp_path_factory.mktemp("recipe") / "exp" / "st_tiny"
    checkpoint, trainable = make_experiment(exp, tiny_wav2vec2, tiny_mbart)
    return Packages(exp, pack(exp, checkpoint, "adapters"), pack(exp, checkpoint, "full", out=exp / "packed_full"),
                    trainable)


def test_adapter_package_holds_only_the_trained_tensors(packages: Packages) -> None:
    assert package_kind(packages.adapters) == "adapters" and package_kind(packages.full) == "full"
    adapters = torch.load(packages.adapters / "model.pth", weights_only=True)
    full = torch.load(packages.full / "model.pth", weights_only=True)
    assert set(adapters) == packages.trainable
    assert {name.split(".")[0] for name in adapters} == {"encoder_adapters", "decoder_adapters", "length_adaptor"}
    assert all(torch.equal(adapters[name], full[name]) for name in adapters)
    tied = [full[f"mbart.{name}"].untyped_storage().data_ptr()
            for name in ("lm_head.weight", "model.shared.weight", "model.decoder.embed_tokens.weight")]
    assert len(set(tied)) == 1  # stored once
    sizes = [(path / "model.pth").stat().st_size for path in (packages.adapters, packages.full)]
    assert sizes[0] < sizes[1] / 5, sizes
    manifest = json.loads((packages.adapters / MANIFEST).read_text(encoding="utf-8"))
    trained_conf = yaml.safe_load((packages.exp / "config.yaml").read_text(encoding="utf-8"))["model_conf"]
    packed_conf = yaml.safe_load((packages.adapters / "config.yaml").read_text(encoding="utf-8"))["model_conf"]
    for part, option in (("encoder", "encoder_model"), ("decoder", "decoder_model")):
        assert manifest["bases"][part]["from"] == packed_conf[option] == str(Path(trained_conf[option]).resolve())
        assert len(manifest["bases"][part]["sha256"]) == 64
    assert manifest["parameters"]["trainable"] == sum(tensor.numel() for tensor in adapters.values())


def test_adapter_package_reloads_to_the_outputs_of_the_full_one(packages: Packages) -> None:
    (small, tokenizer), (big, _) = load_packed(packages.exp), load_packed(packages.full)
    small_state, big_state = small.state_dict(), big.state_dict()
    assert set(small_state) == set(big_state)
    assert all(torch.equal(small_state[name], big_state[name]) for name in big_state)
    speech = 0.1 * torch.randn(2, 16000, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([16000, 11000])
    english = torch.tensor([language_token_id(tokenizer, "en_XX")] * 2)
    hypotheses = [model.translate(speech, lengths, english, beam_size=2, max_length=8) for model in (small, big)]
    assert hypotheses[0] == hypotheses[1] and any(hypotheses[0])
    text = torch.tensor([[english[0].item(), 5, 6, 2], [english[0].item(), 7, 2, -1]])
    with torch.no_grad():
        memory = [model.encode(speech, lengths)[0] for model in (small, big)]
        losses = [model(speech, lengths, text, torch.tensor([4, 3]))[0] for model in (small, big)]
    assert torch.equal(memory[0], memory[1]) and torch.equal(losses[0], losses[1])


def test_adapter_package_refuses_a_changed_base(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path) -> None:
    decoder = tmp_path / "mbart"
    shutil.copytree(tiny_mbart, decoder)
    exp = tmp_path / "exp" / "st_tiny"
    checkpoint, _ = make_experiment(exp, tiny_wav2vec2, decoder)
    packed = pack(exp, checkpoint)
    load_packed(exp)  # the base as packed: fine
    mbart = MBartForConditionalGeneration.from_pretrained(decoder)
    with torch.no_grad():
        mbart.model.decoder.layers[0].fc1.weight[0, 0] += 1e-3
    mbart.save_pretrained(decoder)
    with pytest.raises(PackageError) as refused:
        load_packed(exp)
    message = str(refused.value)
    assert message.startswith(f"{packed}: the decoder base {decoder} is not the one this adapter-only package was "
                              "trained on (digest of its frozen weights ")
    assert message.endswith(f"put that base back at {decoder}, or repack the experiment with --pack full where it is")
    assert "\n" not in message


def test_adapter_package_whose_hub_base_is_not_at_hand_says_so_in_one_line(packages: Packages, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    packed = tmp_path / "packed"
    shutil.copytree(packages.adapters, packed)
    config = yaml.safe_load((packed / "config.yaml").read_text(encoding="utf-8"))
    config["model_conf"]["decoder_model"] = "org/absent-mbart"
    (packed / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as missing:
        load_packed(packed)
    message = str(missing.value)
    assert message.startswith(f"{packed} (adapter-only package): --decoder_model org/absent-mbart: not a local "
                              "directory, not in the Hugging Face cache")
    assert message.endswith(f"its bases are named in {packed / 'config.yaml'}; or use a full package (stage 4 with "
                            "--pack full)") and "\n" not in message


def test_a_copied_recipe_folder_translates_with_its_package_once_the_original_is_gone(
        tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from sst import Translator
    from sst.bin import translate
    from sst.testing.corpora import MINI_ST_CORPUS
    from sst.testing.tiny_models import packed_st_model

    recipe = tmp_path / "mini_st"
    encoder = recipe / "exp" / "samu_train_samu" / "encoder_hf"  # the SAMU export: in the recipe folder
    shutil.copytree(tiny_wav2vec2, encoder)
    exp = packed_st_model(recipe / "exp" / "st_adapter", encoder, tiny_mbart, move_trained=0.05)
    bases = json.loads((exp / "packed" / MANIFEST).read_text(encoding="utf-8"))["bases"]
    assert bases["encoder"]["from"] == "../../samu_train_samu/encoder_hf"
    assert bases["decoder"]["from"] == str(tiny_mbart.resolve())  # outside the recipe folder: where it is
    clip = str(sorted(MINI_ST_CORPUS.glob("commonvoice/fr/clips/*.mp3"))[0])
    options = {"beam_size": 2, "max_length": 6}
    before = Translator.from_pretrained(exp, **options)
    expected = before.translate(clip)

    copy = tmp_path / "elsewhere" / "mini_st"
    shutil.copytree(recipe, copy)
    shutil.rmtree(recipe)
    after = Translator.from_pretrained(copy / "exp" / "st_adapter", **options)
    assert after.translate(clip) == expected
    state = before.model.state_dict()
    assert all(torch.equal(tensor, state[name]) for name, tensor in after.model.state_dict().items())
    capsys.readouterr()
    translate.main([clip, "--model_dir", str(copy / "exp" / "st_adapter"), "--beam_size", "2", "--max_length", "6"])
    assert capsys.readouterr().out == f"{clip}\t{expected[0]}\n"


def test_packing_refuses_a_checkpoint_whose_frozen_weights_are_not_its_base(tiny_wav2vec2: Path, tiny_mbart: Path,
                                                                           tmp_path: Path) -> None:
    exp = tmp_path / "exp" / "st_tiny"
    checkpoint, _ = make_experiment(exp, tiny_wav2vec2, tiny_mbart)
    state = torch.load(checkpoint, weights_only=True)
    state["encoder.backbone.encoder.layers.0.attention.k_proj.weight"][0, 0] += 1e-3
    torch.save(state, checkpoint)
    with pytest.raises(PackageError, match=r"its frozen encoder differs from .*; pack it with --pack full$"):
        pack(exp, checkpoint)
    assert not (exp / "packed").exists()
    assert package_kind(pack(exp, checkpoint, "full")) == "full"


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_model_card_has_front_matter_and_gets_the_results_after_scoring(packages: Packages, tmp_path: Path,
                                                                        tiny_mbart: Path) -> None:
    exp = tmp_path / "exp" / "st_tiny"
    shutil.copytree(packages.exp, exp)
    card = (exp / "packed" / CARD).read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["language"] == ["de", "en", "fr"] and meta["license"] == "other"
    assert {"speech-translation", "sst"} <= set(meta["tags"]) and meta["metrics"] == ["bleu", "chrf", "ter"]
    assert meta["datasets"] == [packages.exp.parents[1].name] and "base_model" not in meta  # local bases only
    assert "| train | " in card and "| 3 | de→en (1), fr→en (2) |" in card
    assert "Not scored yet" in card
    assert f"python -m sst.bin.translate --model_dir {packages.exp / 'packed'} --tgt_lang en a.wav" in card
    assert "adapter-only package" in card

    decode = exp / "decode_st" / "test_fr_en"
    decode.mkdir(parents=True)
    write_kv(decode / "hyp", {"a": "the cat sat on the mat", "b": "a dog barks"})
    write_kv(decode / "ref", {"a": "the cat sat on the mat", "b": "the dog barks"})
    write_kv(decode / "utt2lang", {"a": "fr", "b": "fr"})
    write_kv(decode / "utt2tgt_lang", {"a": "en", "b": "en"})
    score.main(["--exp_dir", str(exp), "--decode_dirs", str(decode)])
    card = (exp / "packed" / CARD).read_text(encoding="utf-8")
    front_matter(card)
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    row = next(line for line in results.splitlines() if line.startswith("| ") and "fr" in line and "en" in line)
    assert row in card.split("## Results", 1)[1] and "Not scored yet" not in card
    header = next(line for line in results.splitlines() if line.startswith("| direction"))
    assert "off-target %" in header and "src-lang %" in header and header in card  # the diagnostics too


def test_fingerprint_ignores_the_card_and_covers_the_bases(packages: Packages, tmp_path: Path) -> None:
    packed = tmp_path / "packed"
    shutil.copytree(packages.adapters, packed)
    before = model_fingerprint(packed)
    assert CARD not in before["files"] and MANIFEST in before["files"]
    (packed / CARD).write_text("# edited by hand\n", encoding="utf-8")
    assert model_fingerprint(packed) == before
    manifest = json.loads((packed / MANIFEST).read_text(encoding="utf-8"))
    manifest["bases"]["decoder"]["sha256"] = "0" * 64
    (packed / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert model_fingerprint(packed)["files"][MANIFEST] != before["files"][MANIFEST]


def test_a_repacking_killed_between_its_renames_leaves_a_loadable_package(packages: Packages, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Repacking adapters -> full is killed once the old package is aside and before the new one is in: the
    experiment still loads (the old package), and the next packing puts the new one in and tidies up (the
    package set aside, and what a packing process that is gone left half written)."""
    exp = tmp_path / "exp" / "st_tiny"
    shutil.copytree(packages.exp, exp)
    old = load_packed(exp)[0]
    rename = os.rename

    def killed_before_the_new_one_is_in(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == exp / "packed":
            raise KeyboardInterrupt("SIGKILL")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", killed_before_the_new_one_is_in)
    with pytest.raises(KeyboardInterrupt):
        pack(exp, exp / "1epoch.pth", "full")
    monkeypatch.undo()
    assert not (exp / "packed").exists() and package_kind(exp / "packed.old") == "adapters"
    model, _ = load_packed(exp)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), old.state_dict().values()))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (exp / f"packed.{dead.pid}.tmp").mkdir()  # left by a packing process killed while it wrote its package
    pack(exp, exp / "1epoch.pth", "full")
    assert package_kind(exp / "packed") == "full"
    assert sorted(p.name for p in exp.iterdir() if p.name.startswith("packed")) == ["packed", "packed_full"]

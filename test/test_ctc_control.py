"""The control without semantics (sst.models.ctc_control): the character vocabulary, its targets, and the
CTC loss of the student on the fixture's speech and transcripts."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from espnet.nets.pytorch_backend.nets_utils import pad_list

from sst.data.audio import read_dumped
from sst.io import read_kv, write_kv
from sst.models.ctc_control import (CharVocabulary, CtcControlModel, ctc_frames_needed, normalize_transcript,
                                    write_targets)


def test_vocabulary_nfc_lowercase_word_boundary_and_unknown(tmp_path: Path) -> None:
    decomposed = "E\u0301te\u0301  a\u0300 Ko\u0308ln\t"  # "Été  à Köln" with combining accents
    assert normalize_transcript(decomposed) == "été à köln"
    vocabulary = CharVocabulary.from_texts([decomposed, "A|b"])
    assert vocabulary.tokens == ["<blank>", "<unk>", "|", "a", "b", "k", "l", "n", "t", "à", "é", "ö"]
    assert vocabulary.encode("Été à") == [10, 8, 10, 2, 9]
    assert vocabulary.encode("x|a") == [1, 1, 3]  # unseen character and a literal "|": unknown
    vocabulary.write(tmp_path / "tokens.txt")
    assert (tmp_path / "tokens.txt").read_text(encoding="utf-8").splitlines() == vocabulary.tokens
    assert CharVocabulary.read(tmp_path / "tokens.txt").tokens == vocabulary.tokens
    with pytest.raises(ValueError, match="starts with <blank> <unk> |"):
        CharVocabulary(["a", "<blank>", "<unk>", "|"])


def test_write_targets_encodes_every_transcript_and_refuses_an_empty_one(tmp_path: Path) -> None:
    vocabulary = CharVocabulary.from_texts(["ab c"])
    write_kv(tmp_path / "transcript", {"u1": "Ab c", "u2": "cz"})
    write_targets(vocabulary, tmp_path / "transcript", tmp_path / "text_int")
    assert read_kv(tmp_path / "text_int") == {"u1": "3 4 2 5", "u2": "5 1"}
    write_kv(tmp_path / "transcript", {"u1": "Ab c", "u2": "  "})
    with pytest.raises(ValueError, match="transcript: empty transcript for utterance u2"):
        write_targets(vocabulary, tmp_path / "transcript", tmp_path / "text_int")


def test_ctc_frames_needed_counts_a_blank_between_repeats() -> None:
    targets = torch.tensor([[3, 3, 4, 4, 4], [5, 6, 6, 0, 0], [7, 0, 0, 0, 0]])
    lengths = torch.tensor([5, 3, 1])
    assert ctc_frames_needed(targets, lengths).tolist() == [8, 4, 1]


def test_ctc_loss_of_the_tiny_student_falls_on_the_fixture(tiny_wav2vec2: Path, st_dumps: Path) -> None:
    """Eight Adam steps on the five fixture utterances (seeded, one thread: the same losses every run)."""
    dump = st_dumps / "train_multi"
    transcripts = read_kv(dump / "transcript")
    vocabulary = CharVocabulary.from_texts(transcripts.values())
    utts = sorted(transcripts)
    wavs = read_kv(dump / "wav.scp")
    speech = [torch.from_numpy(read_dumped(wavs[utt])) for utt in utts]
    text = [torch.tensor(vocabulary.encode(transcripts[utt])) for utt in utts]
    batch = {"speech": pad_list(speech, 0.0), "speech_lengths": torch.tensor([len(s) for s in speech]),
             "text": pad_list(text, -1), "text_lengths": torch.tensor([len(t) for t in text])}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = CtcControlModel(len(vocabulary), encoder_model=str(tiny_wav2vec2), mask_time_prob=0.0,
                                layerdrop=0.0)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.005)
        losses = []
        for _ in range(8):
            loss, stats, weight = model(**batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert weight.item() == 5
    # fr_100002 (0.5 s: 24 frames) has 33 characters: CTC cannot align it, its loss is zeroed
    assert stats["infeasible"].item() == pytest.approx(0.2)
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.75 * losses[0], losses

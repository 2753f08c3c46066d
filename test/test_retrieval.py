"""SAMU retrieval metrics: hand-checked recall@k, tie-breaking, text_index pairing and the Markdown writer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sst.eval.retrieval import (RetrievalResult, cosine_similarity_matrix, evaluate_retrieval, ranks_of_correct,
                                recall_at_k, retrieval_markdown, write_retrieval_section)

E1, E2, E3 = np.eye(3)


def test_hand_checked_three_by_three() -> None:
    # Speech row 1 points mostly at text 0: cos(S1, T0) = 1/sqrt(1.01) = 0.995 > cos(S1, T1) = 0.0995,
    # so speech->text gets 2 of 3 right at rank 0 and S1's correct text at rank 1.
    speech = np.stack([E1, E1 + 0.1 * E2, E3])
    text = np.stack([E1, E2, E3])
    sim = cosine_similarity_matrix(speech, text)
    assert sim[1, 0].item() == pytest.approx(1 / math.sqrt(1.01))
    assert sim[1, 1].item() == pytest.approx(0.1 / math.sqrt(1.01))
    assert ranks_of_correct(sim, torch.eye(3, dtype=torch.bool)).tolist() == [0, 1, 0]
    # Text->speech: T0 finds S0 (1.0 > 0.995), T1 finds S1 (0.0995 > 0), T2 finds S2.
    assert ranks_of_correct(sim.T, torch.eye(3, dtype=torch.bool)).tolist() == [0, 0, 0]
    result = evaluate_retrieval(speech, text, ks=(1, 2, 5))
    assert result.speech_to_text == pytest.approx({1: 2 / 3, 2: 1.0, 5: 1.0})
    assert result.text_to_speech == pytest.approx({1: 1.0, 2: 1.0, 5: 1.0})
    assert (result.n_speech, result.n_text) == (3, 3)


def test_ties_go_to_the_lower_index() -> None:
    # T0 and T1 are the same vector: S0 (correct T0) wins the tie, S1 (correct T1) loses it to T0.
    speech = np.stack([E1, E1, E3])
    text = np.stack([E1, E1, E3])
    result = evaluate_retrieval(speech, text)
    assert result.speech_to_text == pytest.approx({1: 2 / 3, 5: 1.0})
    assert result.text_to_speech == pytest.approx({1: 2 / 3, 5: 1.0})
    sim = cosine_similarity_matrix(speech, text)
    assert ranks_of_correct(sim, torch.eye(3, dtype=torch.bool)).tolist() == [0, 1, 0]


def test_text_index_shared_texts_and_distractors() -> None:
    # Speech rows 0 and 1 both belong to text 0; text 2 belongs to nobody and is only a distractor.
    speech = np.stack([E1 + E2, E1, E2 + 0.5 * E3])
    text = np.stack([E1, E2, E1 + E2])
    result = evaluate_retrieval(speech, text, text_index=[0, 0, 1])
    # S0 prefers the distractor T2 (cos 1) over its T0 (0.707): rank 1. S1 -> T0, S2 -> T1 at rank 0.
    assert result.speech_to_text == pytest.approx({1: 2 / 3, 5: 1.0})
    # Text queries T0 and T1 only: T0's best correct row is S1 (cos 1), T1's is S2 (0.894 > S0's 0.707).
    assert result.text_to_speech == pytest.approx({1: 1.0, 5: 1.0})


def test_torch_and_numpy_agree_and_chunking_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    # Rounded to one decimal so that many similarities tie.
    speech = np.round(rng.normal(size=(40, 4)), 1)
    text = np.round(rng.normal(size=(40, 4)), 1)
    text[5] = text[7]
    a = evaluate_retrieval(speech, text)
    b = evaluate_retrieval(torch.tensor(speech, dtype=torch.float32), torch.tensor(text, dtype=torch.float32))
    sim = cosine_similarity_matrix(speech, text)
    correct = torch.eye(40, dtype=torch.bool)
    ranks = ranks_of_correct(sim, correct, chunk_size=7)
    assert ranks.tolist() == ranks_of_correct(sim, correct).tolist()
    # Brute force: stable sort by decreasing similarity (ties by index) and find the correct column.
    s = sim.numpy()
    expected = [int(np.where(np.lexsort((np.arange(40), -s[q])) == q)[0][0]) for q in range(40)]
    assert ranks.tolist() == expected
    assert a.speech_to_text[1] == pytest.approx(np.mean(np.array(expected) < 1))
    assert a.speech_to_text == pytest.approx(b.speech_to_text)


def _dense_recalls(speech: np.ndarray, text: np.ndarray, target: np.ndarray, ks=(1, 2, 5)) -> tuple[dict, dict]:
    """Recall@k from the full similarity matrix, each row stably sorted (ties to the lower index)."""
    sim = cosine_similarity_matrix(speech, text).numpy()

    def rank(row: np.ndarray, correct: np.ndarray) -> int:
        order = np.lexsort((np.arange(len(row)), -row))
        return int(np.flatnonzero(correct[order])[0])

    s2t = [rank(sim[i], np.arange(len(text)) == target[i]) for i in range(len(speech))]
    t2s = [rank(sim[:, t], target == t) for t in sorted(set(target.tolist()))]
    return ({k: float(np.mean(np.array(s2t) < k)) for k in ks}, {k: float(np.mean(np.array(t2s) < k)) for k in ks})


@pytest.mark.parametrize("block_elements", [1, 7, 60, 1 << 22])
def test_blockwise_recall_equals_the_dense_computation_with_ties(block_elements: int) -> None:
    rng = np.random.default_rng(1)
    # Few distinct values, repeated rows and texts shared by several utterances: many exact ties.
    speech = np.round(rng.normal(size=(30, 3)), 0)
    text = np.round(rng.normal(size=(12, 3)), 0)
    speech[3] = speech[4] = speech[9]
    text[2] = text[5]
    text[text.sum(axis=1) == 0] += 1.0  # no zero rows: cosine is defined everywhere
    speech[np.abs(speech).sum(axis=1) == 0] += 1.0
    target = rng.integers(0, 10, size=30)  # texts 10 and 11 are distractors only
    result = evaluate_retrieval(speech, text, text_index=target, ks=(1, 2, 5), block_elements=block_elements)
    s2t, t2s = _dense_recalls(speech, text, target)
    assert result.speech_to_text == s2t and result.text_to_speech == t2s
    same = evaluate_retrieval(speech[:12], text, ks=(1, 2, 5), block_elements=block_elements)
    assert (same.speech_to_text, same.text_to_speech) == _dense_recalls(speech[:12], text, np.arange(12))


def test_recall_at_k_values() -> None:
    assert recall_at_k(torch.tensor([0, 1, 4, 7]), ks=(1, 5)) == {1: 0.25, 5: 0.75}
    with pytest.raises(ValueError, match="empty"):
        recall_at_k(torch.tensor([], dtype=torch.long))


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="give text_index"):
        evaluate_retrieval(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"text_index\[1\] = 5"):
        evaluate_retrieval(np.ones((2, 2)), np.ones((2, 2)), text_index=[0, 5])
    with pytest.raises(ValueError, match="differ in size"):
        evaluate_retrieval(np.ones((2, 2)), np.ones((2, 3)))
    bad = np.ones((2, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*rows \[1\]"):
        evaluate_retrieval(bad, np.ones((2, 2)))


def _result(s2t1: float, t2s1: float, n: int) -> RetrievalResult:
    return RetrievalResult(n, n, {1: s2t1, 5: 1.0}, {1: t2s1, 5: 1.0})


def test_markdown_table_and_section_rewrite(tmp_path) -> None:
    results = {"dev_fr_en": _result(2 / 3, 1.0, 3), "dev_de_en": _result(0.5, 0.25, 4)}
    table = retrieval_markdown(results)
    lines = table.splitlines()
    assert lines[0].replace(" ", "") == "|set|n|S→TR@1|S→TR@5|T→SR@1|T→SR@5|"
    assert lines[2].replace(" ", "") == "|dev_fr_en|3|66.7|100.0|100.0|100.0|"
    assert lines[3].replace(" ", "") == "|dev_de_en|4|50.0|100.0|25.0|100.0|"
    assert lines[4].replace(" ", "") == "|**average**|7|58.3|100.0|62.5|100.0|"

    md = tmp_path / "RESULTS.md"
    md.write_text("# RESULTS\n\n## training\n\nsome notes\n", encoding="utf-8")
    write_retrieval_section(md, results, heading="## SAMU retrieval (dev)", command="python -m sst.bin.samu_eval x")
    write_retrieval_section(md, {"dev_fr_en": _result(1.0, 1.0, 3)}, heading="## SAMU retrieval (dev)")
    text = md.read_text(encoding="utf-8")
    assert text.count("## SAMU retrieval (dev)") == 1
    assert "## training\n\nsome notes" in text
    assert "dev_de_en" not in text and "**average**" not in text
    assert "| dev_fr_en" in text

    new = tmp_path / "new" / "RESULTS.md"
    section = write_retrieval_section(new, results, command="python -m sst.bin.samu_eval y")
    assert new.read_text(encoding="utf-8").startswith("# RESULTS\n\n## SAMU retrieval\n\n- date:")
    assert "python -m sst.bin.samu_eval y" in section

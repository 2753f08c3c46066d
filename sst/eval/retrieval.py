"""Cross-modal retrieval between speech and text sentence embeddings (the SAMU evaluation).

Similarity is cosine. For every query the candidates are ordered by decreasing similarity; equal
similarities are ordered by increasing candidate index, so results do not depend on the hardware or
the sort algorithm. The rank of a query is the number of candidates placed before its first correct
one (0 = retrieved first), and recall@k is the share of queries whose rank is below k.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sst.eval.results_md import environment_lines, markdown_table, upsert_section

Array = torch.Tensor | np.ndarray


@dataclass
class RetrievalResult:
    """Recall@k in both directions for one evaluation set; recalls are fractions in [0, 1]."""

    n_speech: int
    n_text: int
    speech_to_text: dict[int, float] = field(default_factory=dict)
    text_to_speech: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form (recall keys become "R@k")."""
        return {"n_speech": self.n_speech, "n_text": self.n_text,
                "speech_to_text": {f"R@{k}": v for k, v in self.speech_to_text.items()},
                "text_to_speech": {f"R@{k}": v for k, v in self.text_to_speech.items()}}


def _as_tensor(x: Array, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if tensor.dim() != 2:
        raise ValueError(f"{name} embeddings must be a 2-D (rows x dims) array, got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        bad = torch.nonzero(~torch.isfinite(tensor).all(dim=1)).flatten()[:5].tolist()
        raise ValueError(f"{name} embeddings hold NaN or inf values (rows {bad})")
    return tensor


def cosine_similarity_matrix(speech: Array, text: Array) -> torch.Tensor:
    """(n x m) cosine similarities between the rows of ``speech`` (n x d) and ``text`` (m x d), float64."""
    s, t = _as_tensor(speech, "speech"), _as_tensor(text, "text")
    if s.shape[1] != t.shape[1]:
        raise ValueError(f"speech and text embeddings differ in size: {s.shape[1]} vs {t.shape[1]}")
    s = torch.nn.functional.normalize(s, dim=1)
    t = torch.nn.functional.normalize(t, dim=1)
    return s @ t.T


def ranks_of_correct(similarity: torch.Tensor, correct: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """Rank of the best-placed correct candidate for every query row.

    ``similarity`` and the boolean ``correct`` mask are (queries x candidates); every row of
    ``correct`` must hold at least one True. Ties are ordered by candidate index (lower first).
    """
    if similarity.shape != correct.shape:
        raise ValueError(f"similarity {tuple(similarity.shape)} and correct {tuple(correct.shape)} differ in shape")
    missing = torch.nonzero(~correct.any(dim=1)).flatten()
    if len(missing):
        raise ValueError(f"{len(missing)} queries have no correct candidate (rows {missing[:5].tolist()})")
    index = torch.arange(similarity.shape[1])
    ranks = []
    for start in range(0, similarity.shape[0], chunk_size):
        sim = similarity[start:start + chunk_size]
        # argmax returns the first (lowest-index) maximum, i.e. the first correct candidate in our order.
        best = sim.masked_fill(~correct[start:start + chunk_size], -torch.inf).argmax(dim=1, keepdim=True)
        best_sim = sim.gather(1, best)
        before = (sim > best_sim) | ((sim == best_sim) & (index < best))
        ranks.append(before.sum(dim=1))
    return torch.cat(ranks)


def recall_at_k(ranks: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Share of queries whose rank is below k, for every k in ``ks``."""
    if len(ranks) == 0:
        raise ValueError("recall@k of an empty query set")
    return {k: (ranks < k).double().mean().item() for k in ks}


def evaluate_retrieval(speech: Array, text: Array, text_index: Sequence[int] | Array | None = None,
                       ks: Sequence[int] = (1, 5)) -> RetrievalResult:
    """Speech->text and text->speech recall@k.

    ``speech`` (n x d) and ``text`` (m x d) are embeddings; ``text_index[i]`` is the row of ``text``
    that is correct for speech row ``i`` (default: the same row, which needs n == m). Several speech
    rows may share a text; a text query then counts as found when any of its speech rows is in the
    top k. Texts that belong to no speech row are candidates (distractors) only, never queries.
    """
    similarity = cosine_similarity_matrix(speech, text)
    n, m = similarity.shape
    if text_index is None:
        if n != m:
            raise ValueError(f"{n} speech rows but {m} text rows: give text_index to pair them")
        target = torch.arange(n)
    else:
        target = torch.as_tensor(np.asarray(text_index), dtype=torch.long).flatten()
        if len(target) != n:
            raise ValueError(f"text_index has {len(target)} entries for {n} speech rows")
        out_of_range = torch.nonzero((target < 0) | (target >= m)).flatten()
        if len(out_of_range):
            row = out_of_range[0].item()
            raise ValueError(f"text_index[{row}] = {target[row].item()} is not a row of the {m} text embeddings")
    correct = torch.zeros(n, m, dtype=torch.bool)
    correct[torch.arange(n), target] = True
    s2t = recall_at_k(ranks_of_correct(similarity, correct), ks)
    queried = correct.any(dim=0)
    t2s = recall_at_k(ranks_of_correct(similarity.T[queried], correct.T[queried]), ks)
    return RetrievalResult(n_speech=n, n_text=m, speech_to_text=s2t, text_to_speech=t2s)


def _percent_mean(values: Sequence[float]) -> str:
    return f"{100 * sum(values) / len(values):.1f}"


def retrieval_markdown(results: Mapping[str, RetrievalResult], ks: Sequence[int] = (1, 5)) -> str:
    """Markdown table, one row per set/direction: n, speech->text and text->speech recall@k (%).

    With several sets, a last row holds the unweighted mean over sets; a footnote explains the columns.
    """
    header = ["set", "n"] + [f"S→T R@{k}" for k in ks] + [f"T→S R@{k}" for k in ks]
    rows = [[name, str(r.n_speech)] + [f"{100 * r.speech_to_text[k]:.1f}" for k in ks]
            + [f"{100 * r.text_to_speech[k]:.1f}" for k in ks] for name, r in results.items()]
    if len(results) > 1:
        rows.append(["**average**", str(sum(r.n_speech for r in results.values()))]
                    + [_percent_mean([r.speech_to_text[k] for r in results.values()]) for k in ks]
                    + [_percent_mean([r.text_to_speech[k] for r in results.values()]) for k in ks])
    table = markdown_table(header, rows, ["left"] + ["right"] * (len(header) - 1))
    return (table + "\n\nRecall@k in %, cosine similarity between the SAMU speech embedding and the "
            "teacher's text embedding; S→T: speech queries over all texts of the set, T→S: text queries "
            "over all utterances of the set; ties go to the lower index. The average row is the plain "
            "mean over sets.\n")


def write_retrieval_section(results_md: Path, results: Mapping[str, RetrievalResult],
                            heading: str = "## SAMU retrieval", command: str | None = None,
                            ks: Sequence[int] = (1, 5)) -> str:
    """Write (or, on a re-run, replace) the retrieval section ``heading`` of ``results_md``; returns it.

    With ``command``, the section starts with the environment list (date, versions, the command).
    """
    body = retrieval_markdown(results, ks)
    if command is not None:
        body = "\n".join(environment_lines(command)) + "\n\n" + body
    upsert_section(Path(results_md), heading, body)
    return f"{heading}\n\n{body}"

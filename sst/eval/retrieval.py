"""Cross-modal retrieval between speech and text sentence embeddings (the SAMU evaluation).

Similarity is cosine. For every query the candidates are ordered by decreasing similarity; equal
similarities are ordered by increasing candidate index, so results do not depend on the hardware or
the sort algorithm. The rank of a query is the number of candidates placed before its first correct
one (0 = retrieved first), and recall@k is the share of queries whose rank is below k. The ranks are
computed for one block of queries at a time, so no queries x candidates matrix is ever held whole.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sst.eval.results_md import environment_lines, markdown_table, upsert_section

Array = torch.Tensor | np.ndarray
# Similarities held at once by the blockwise recall (float64: 32 MiB), whatever the number of queries.
BLOCK_ELEMENTS = 1 << 22


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


def _normalized(speech: Array, text: Array) -> tuple[torch.Tensor, torch.Tensor]:
    s, t = _as_tensor(speech, "speech"), _as_tensor(text, "text")
    if s.shape[1] != t.shape[1]:
        raise ValueError(f"speech and text embeddings differ in size: {s.shape[1]} vs {t.shape[1]}")
    return torch.nn.functional.normalize(s, dim=1), torch.nn.functional.normalize(t, dim=1)


def cosine_similarity_matrix(speech: Array, text: Array) -> torch.Tensor:
    """(n x m) cosine similarities between the rows of ``speech`` (n x d) and ``text`` (m x d), float64."""
    s, t = _normalized(speech, text)
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


def blockwise_ranks(queries: torch.Tensor, candidates: torch.Tensor, correct_of: Callable[[int, int], torch.Tensor],
                    block_elements: int = BLOCK_ELEMENTS) -> torch.Tensor:
    """:func:`ranks_of_correct` of ``queries @ candidates.T`` (unit rows), one block of query rows at a time.

    ``correct_of(start, stop)`` gives the boolean (stop - start) x candidates mask of that block; a block
    holds about ``block_elements`` similarities, so memory does not grow with the number of queries.
    """
    rows = max(1, block_elements // max(1, len(candidates)))
    ranks = [ranks_of_correct(queries[start:start + rows] @ candidates.T,
                              correct_of(start, min(start + rows, len(queries))), chunk_size=rows)
             for start in range(0, len(queries), rows)]
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def evaluate_retrieval(speech: Array, text: Array, text_index: Sequence[int] | Array | None = None,
                       ks: Sequence[int] = (1, 5), block_elements: int = BLOCK_ELEMENTS) -> RetrievalResult:
    """Speech->text and text->speech recall@k.

    ``speech`` (n x d) and ``text`` (m x d) are embeddings; ``text_index[i]`` is the row of ``text``
    that is correct for speech row ``i`` (default: the same row, which needs n == m). Several speech
    rows may share a text; a text query then counts as found when any of its speech rows is in the
    top k. Texts that belong to no speech row are candidates (distractors) only, never queries.
    Similarities are computed for blocks of about ``block_elements`` at a time, never n x m at once.
    """
    s, t = _normalized(speech, text)
    n, m = len(s), len(t)
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

    def speech_correct(start: int, stop: int) -> torch.Tensor:
        mask = torch.zeros(stop - start, m, dtype=torch.bool)
        mask[torch.arange(stop - start), target[start:stop]] = True
        return mask

    queried = torch.unique(target)  # sorted text rows that some speech row belongs to
    position = torch.full((m,), -1, dtype=torch.long)
    position[queried] = torch.arange(len(queried))

    def text_correct(start: int, stop: int) -> torch.Tensor:
        mask = torch.zeros(stop - start, n, dtype=torch.bool)
        rows = position[target] - start
        inside = (rows >= 0) & (rows < stop - start)
        mask[rows[inside], torch.nonzero(inside).flatten()] = True
        return mask

    s2t = recall_at_k(blockwise_ranks(s, t, speech_correct, block_elements), ks)
    t2s = recall_at_k(blockwise_ranks(t[queried], s, text_correct, block_elements), ks)
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

"""Per-direction diagnostics of translation hypotheses: why a direction scores what it scores.

A zero-shot direction at 20 BLEU may be a weak translation or half its output in the wrong language;
these rates tell which. Per direction (all in % of the direction's hypotheses unless said otherwise):

- ``off_target``: identifiable hypotheses whose detected language is not the target (% of the identifiable);
- ``ref_lid_error``: the identifier's own error on the direction's references (identifiable references
  detected as another language than the target), shown beside ``off_target`` so its noise is visible;
- ``source_language``: identifiable hypotheses detected as the source language (copying instead of
  translating; % of the identifiable);
- ``repetition``: hypotheses with a looping n-gram: some n-gram of 1 to 4 tokens occurring at least 3 times
  in a row (tokens: lower-cased words without punctuation; each CJK / kana / hangul character is a token);
- ``empty``: empty hypotheses;
- ``too_short``: non-empty hypotheses with fewer than 3 letter tokens (words holding a letter; CJK
  characters count one each): too short to identify, so counted apart and left out of the two rates above;
- ``length_ratio``: characters (whitespace excluded) of all hypotheses over those of all references.

The language identifier is py3langid (langid.py's model, BSD, shipped inside the wheel: nothing is
downloaded), restricted to the languages of the recipe where given (``Identifier``). A rate is None where
the identifier does not know the language it needs. ``DirectionDiagnostics`` takes the pairs one at a time,
so a direction streams through it without another copy of its text.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from sst.data.langs import normalize

DIAGNOSTICS = ("off_target", "ref_lid_error", "source_language", "repetition", "empty", "too_short",
               "length_ratio")
# Column heads of the tables.
LABELS = {"off_target": "off-target %", "ref_lid_error": "LID err. refs %", "source_language": "src-lang %",
          "repetition": "repeat %", "empty": "empty %", "too_short": "too short %", "length_ratio": "len ratio"}
MIN_LETTER_TOKENS = 3  # fewer: too short to identify
MAX_NGRAM = 4
MIN_REPEATS = 3
NOTE = ("Diagnostics (language identifier py3langid, among the languages in the environment list of each "
        "experiment's RESULTS.md): off-target % = identifiable hypotheses detected as another language than the "
        "target; LID err. refs % = the identifier's own error on the references, read off-target against it; "
        "src-lang % = identifiable hypotheses detected as the source language (copying); repeat % = hypotheses "
        "with an n-gram of 1-4 tokens repeated >= 3 times in a row; empty %; too short % = non-empty hypotheses "
        "with < 3 letter words, not identified; len ratio = hypothesis / reference characters (whitespace "
        "excluded). '-': the identifier does not know the language.")

# Scripts written without spaces between words: each character is one token.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased words without punctuation, each CJK / kana / hangul character a token of its own."""
    return _WORD.findall(_UNSPACED.sub(r" \g<0> ", text.lower()))


def letter_tokens(text: str) -> int:
    """Tokens holding a letter (numbers alone do not tell a language)."""
    return sum(1 for token in tokens(text) if any(char.isalpha() for char in token))


def has_repetition(text: str) -> bool:
    """True if an n-gram of 1 to ``MAX_NGRAM`` tokens occurs ``MIN_REPEATS`` times in a row."""
    words = tokens(text)
    for n in range(1, MAX_NGRAM + 1):
        for start in range(len(words) - MIN_REPEATS * n + 1):
            gram = words[start:start + n]
            if all(words[start + k * n:start + (k + 1) * n] == gram for k in range(1, MIN_REPEATS)):
                return True
    return False


def _characters(text: str) -> int:
    return len("".join(text.split()))


class Identifier:
    """py3langid's identifier (an instance of its own: the module's global one is left alone), restricted to
    ``langs`` (corpus codes, "zh-CN" is zh) that it knows; all of its languages without ``langs``."""

    def __init__(self, langs: Iterable[str] | None = None) -> None:
        self._model = LanguageIdentifier.from_model_file(MODEL_FILE)
        known = set(self._model.labels)
        if langs is None:
            self.languages = sorted(known)
            return
        wanted = {normalize(lang) for lang in langs}
        unknown = sorted(wanted - known)
        if unknown:
            logging.warning("the language identifier (py3langid) does not know %s: no off-target or "
                            "source-language rate where %s needed", " ".join(unknown),
                            "it is" if len(unknown) == 1 else "they are")
        self.languages = sorted(wanted & known)
        if len(self.languages) < 2:  # one language would be found in every text: identify among all
            self.languages = sorted(known)
        else:
            self._model.set_languages(self.languages)

    def description(self) -> dict:
        """What results.json records of the identifier: name, version and the languages chosen among."""
        return {"name": "py3langid", "version": version("py3langid"), "languages": self.languages}

    def knows(self, lang: str) -> bool:
        """Whether ``lang`` is among the languages identified."""
        return normalize(lang) in self.languages

    def identify(self, text: str) -> str | None:
        """The detected language of ``text``; None if it is too short to identify."""
        if letter_tokens(text) < MIN_LETTER_TOKENS:
            return None
        return self._model.classify(text)[0]


@dataclass
class DirectionDiagnostics:
    """Counts of one ``src``-``tgt`` direction, fed one (hypothesis, reference) pair at a time (``add``)."""

    src: str
    tgt: str
    identifier: Identifier
    n_utts: int = 0
    n_empty: int = 0
    n_too_short: int = 0
    n_repetition: int = 0
    n_identified: int = 0
    n_off_target: int = 0
    n_source_language: int = 0
    n_refs_identified: int = 0
    n_refs_off_target: int = 0
    hyp_characters: int = 0
    ref_characters: int = 0

    def add(self, hyp: str, ref: str) -> None:
        """Count one utterance."""
        self.n_utts += 1
        self.hyp_characters += _characters(hyp)
        self.ref_characters += _characters(ref)
        empty = not hyp.strip()
        hyp_lang = None if empty else self.identifier.identify(hyp)
        self.n_empty += empty
        self.n_repetition += not empty and has_repetition(hyp)
        self.n_too_short += not empty and hyp_lang is None
        if hyp_lang is not None:
            self.n_identified += 1
            self.n_off_target += hyp_lang != normalize(self.tgt)
            self.n_source_language += hyp_lang == normalize(self.src)
        ref_lang = self.identifier.identify(ref)
        if ref_lang is not None:
            self.n_refs_identified += 1
            self.n_refs_off_target += ref_lang != normalize(self.tgt)

    def result(self) -> dict:
        """The rates (``DIAGNOSTICS``, in %, None where not measurable) and the counts behind them."""
        def percent(count: int, total: int, measurable: bool = True) -> float | None:
            return 100 * count / total if measurable and total else None

        knows_tgt = self.identifier.knows(self.tgt)
        return {"off_target": percent(self.n_off_target, self.n_identified, knows_tgt),
                "ref_lid_error": percent(self.n_refs_off_target, self.n_refs_identified, knows_tgt),
                "source_language": percent(self.n_source_language, self.n_identified,
                                           self.identifier.knows(self.src)),
                "repetition": percent(self.n_repetition, self.n_utts),
                "empty": percent(self.n_empty, self.n_utts),
                "too_short": percent(self.n_too_short, self.n_utts),
                "length_ratio": self.hyp_characters / self.ref_characters if self.ref_characters else None,
                "n_utts": self.n_utts, "n_identified": self.n_identified, "n_refs_identified": self.n_refs_identified,
                "n_empty": self.n_empty, "n_too_short": self.n_too_short, "n_repetition": self.n_repetition}


def diagnose(pairs: Iterable[tuple[str, str]], src: str, tgt: str, identifier: Identifier) -> dict:
    """``DirectionDiagnostics.result`` of the (hypothesis, reference) pairs of one direction, streamed."""
    counts = DirectionDiagnostics(src, tgt, identifier)
    for hyp, ref in pairs:
        counts.add(hyp, ref)
    return counts.result()


def average_diagnostics(rows: Sequence[dict]) -> dict[str, float | None]:
    """Plain means of each rate over the rows' ``diagnostics`` (rows without a value left out), as for BLEU."""
    averages = {}
    for key in DIAGNOSTICS:
        values = [row["diagnostics"][key] for row in rows if row.get("diagnostics", {}).get(key) is not None]
        averages[key] = sum(values) / len(values) if values else None
    return averages

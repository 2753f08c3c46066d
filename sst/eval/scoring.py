"""Stage 6 scoring: sacreBLEU BLEU, chrF++ and TER of decode dirs, per direction and averaged.

A decode dir (stage 5 output, ``exp/<st_exp>/decode_<tag>/<set>``) holds ``hyp``, ``ref``, ``utt2lang``
and ``utt2tgt_lang``. Its decode tag is the name of its parent folder. Utterances of all decode dirs of
one tag are pooled per direction (``<src>-<tgt>``) and scored as one corpus.

Metrics: BLEU (cased, tokenizer 13a, or ``char`` for zh/ja targets), chrF++ (chrF with word bigrams),
TER (sacreBLEU defaults; for zh/ja targets ``normalized`` + ``asian_support`` so CJK text is split into
characters). Averages are plain, unweighted means of the per-direction scores over the groups of the
corpus (``CORPUS_GROUPS``): CoVoST-2's X->En resource groups (high / mid / low), Europarl-ST's source and
target languages, and for every corpus the seen / zero-shot directions and all directions. CoVoST-2 also
gets the paper's cross-lingual transfer gap (``transfer_gaps``). The comparison with a baseline experiment
is sacreBLEU's paired bootstrap test on BLEU and chrF++ (seed from ``SACREBLEU_SEED``, 12345 by default).
Each direction also gets the diagnostics of ``sst.eval.diagnostics`` (off-target and source-language rates,
the identifier's error on the references, repetition, empty and too-short hypotheses, length ratio),
averaged over the same groups.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric
from sacrebleu.significance import PairedTest

from sst.io import read_kv
from sst.data.langs import CHARACTER_LEVEL_TARGETS, normalize, resource_group
from sst.eval.diagnostics import DIAGNOSTICS, LABELS, NOTE, Identifier, average_diagnostics, diagnose
from sst.eval.results_md import environment_lines, markdown_table

DECODE_FILES = ("hyp", "ref", "utt2lang", "utt2tgt_lang")
LONGFORM_SUFFIX = "_longform"  # decode tag of the long-form decoding of a tag's test sets
METRICS = ("BLEU", "chrF++", "TER")
GROUPS = ("high", "mid", "low")
# How each corpus groups its directions in the averages: CoVoST-2 by the paper's resource groups of the
# X->En source languages; Europarl-ST (many-to-many, all high-resource) by source and by target language.
CORPUS_GROUPS = {"covost2": "resource", "europarl_st": "language", "none": None}
# TRFGap (arXiv 2306.00789 v3): the BLEU of the high-resource group minus that of a lower one.
TRANSFER_GAPS = (("high", "mid"), ("high", "low"))
SIGNIFICANCE_LEVEL = 0.05
BOOTSTRAP_METRICS = ("BLEU", "chrF++")  # compared with the baseline by paired bootstrap
AVERAGES_NOTE = ("Averages (avg rows) are plain, unweighted means of the per-direction scores; "
                 "their #utts is the sum over the directions averaged.")
TRANSFER_GAP_NOTE = ("TRFGap (cross-lingual transfer gap, arXiv 2306.00789 v3; lower is better): avg high BLEU "
                     "minus avg mid / avg low BLEU;")


@dataclass
class DecodeDir:
    """The content of one decode dir."""

    path: Path
    hyp: dict[str, str]
    ref: dict[str, str]
    utt2lang: dict[str, str]
    utt2tgt_lang: dict[str, str]

    @property
    def tag(self) -> str:
        """Decode tag: the name of the parent folder (``decode_test`` for ``exp/x/decode_test/test_fr_en``)."""
        return self.path.parent.name


@dataclass
class Direction:
    """The pooled utterances of one ``<src>-<tgt>`` direction of one decode tag, sorted by utt id."""

    src: str
    tgt: str
    utts: list[str] = field(default_factory=list)
    hyps: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    decode_dirs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``<src>-<tgt>``, e.g. ``fr-en``."""
        return f"{self.src}-{self.tgt}"


def check_same_ids(where: str, name_a: str, ids_a: Iterable[str], name_b: str, ids_b: Iterable[str]) -> None:
    """ValueError naming ``where``, how many ids each side lacks, and a few examples, if the sets differ."""
    set_a, set_b = set(ids_a), set(ids_b)
    if set_a == set_b:
        return
    only_a, only_b = sorted(set_a - set_b), sorted(set_b - set_a)
    raise ValueError(
        f"{where}: utterance ids of {name_a} and {name_b} differ: {len(only_a)} ids are in {name_a} "
        f"but missing from {name_b} (e.g. {', '.join(only_a[:3]) or '-'}), {len(only_b)} are in "
        f"{name_b} but missing from {name_a} (e.g. {', '.join(only_b[:3]) or '-'})")


def read_decode_dir(path: Path) -> DecodeDir:
    """Read a decode dir; a clear error if a file is missing or the utterance ids do not match."""
    path = Path(path)
    missing = [name for name in DECODE_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"decode dir {path}: missing {', '.join(missing)} "
                                f"(expected {', '.join(DECODE_FILES)}; written by sst.bin.st_inference)")
    files = {name: read_kv(path / name) for name in DECODE_FILES}
    if not files["ref"]:
        raise ValueError(f"decode dir {path}: ref holds no utterances")
    check_same_ids(f"decode dir {path}", "hyp", files["hyp"], "ref", files["ref"])
    for name in ("utt2lang", "utt2tgt_lang"):
        check_same_ids(f"decode dir {path}", "ref", files["ref"], name, files[name])
    return DecodeDir(path=path, hyp=files["hyp"], ref=files["ref"],
                     utt2lang={u: normalize(v) for u, v in files["utt2lang"].items()},
                     utt2tgt_lang={u: normalize(v) for u, v in files["utt2tgt_lang"].items()})


def collect_directions(decode_dirs: Sequence[DecodeDir]) -> dict[str, dict[str, Direction]]:
    """Decode tag -> direction name -> pooled utterances; an error if an utt id appears twice in a tag."""
    tags: dict[str, dict[str, Direction]] = {}
    seen_in: dict[tuple[str, str], Path] = {}
    for ddir in decode_dirs:
        for utt in sorted(ddir.ref):
            if (ddir.tag, utt) in seen_in:
                raise ValueError(f"utterance {utt} is in two decode dirs of tag {ddir.tag}: "
                                 f"{seen_in[ddir.tag, utt]} and {ddir.path}")
            seen_in[ddir.tag, utt] = ddir.path
            src, tgt = ddir.utt2lang[utt], ddir.utt2tgt_lang[utt]
            direction = tags.setdefault(ddir.tag, {}).setdefault(f"{src}-{tgt}", Direction(src, tgt))
            direction.utts.append(utt)
            direction.hyps.append(ddir.hyp[utt])
            direction.refs.append(ddir.ref[utt])
            if str(ddir.path) not in direction.decode_dirs:
                direction.decode_dirs.append(str(ddir.path))
    return tags


def build_metrics(tgt_lang: str) -> dict[str, Metric]:
    """BLEU, chrF++ and TER set up for a target language (character level for zh/ja)."""
    char_level = normalize(tgt_lang) in CHARACTER_LEVEL_TARGETS
    return {"BLEU": BLEU(tokenize="char" if char_level else "13a", lowercase=False),
            "chrF++": CHRF(word_order=2),
            "TER": TER(normalized=char_level, asian_support=char_level)}


def score_corpus(hyps: Sequence[str], refs: Sequence[str], tgt_lang: str) -> dict:
    """Corpus BLEU, chrF++ and TER of one direction, with their sacreBLEU signatures."""
    scores: dict = {"signatures": {}}
    for name, metric in build_metrics(tgt_lang).items():
        scores[name] = metric.corpus_score(list(hyps), [list(refs)]).score
        scores["signatures"][name] = str(metric.get_signature())
    return scores


def paired_bootstrap(hyps: Sequence[str], baseline_hyps: Sequence[str], refs: Sequence[str],
                     tgt_lang: str, n_samples: int = 1000) -> dict:
    """sacreBLEU's paired bootstrap test of BLEU and chrF++, system against baseline (same references,
    same order); the chrF++ entries are keyed ``chrF++``, ``baseline_chrF++``, ``chrF++_p_value``.

    Identical hypotheses get p-value 1: sacreBLEU's test returns 1 / (n_samples + 1) for them, since
    it counts resampled differences strictly above the observed one, which is 0.
    """
    built = build_metrics(tgt_lang)
    metrics = {name: built[name] for name in BOOTSTRAP_METRICS}
    test = PairedTest([("baseline", list(baseline_hyps)), ("system", list(hyps))], metrics,
                      references=[list(refs)], test_type="bs", n_samples=n_samples)
    signatures, results = test()
    # sacreBLEU keys its results by the scores' own names ("chrF2++"), in the order of ``metrics``
    scores = dict(zip(metrics, (results[key] for key in results if key != "System")))
    signatures = dict(zip(metrics, signatures.values()))
    identical = list(hyps) == list(baseline_hyps)
    p_values = {name: 1.0 if identical else scores[name][1].p_value for name in metrics}
    return {"baseline_BLEU": scores["BLEU"][0].score, "BLEU": scores["BLEU"][1].score, "p_value": p_values["BLEU"],
            "significant": bool(p_values["BLEU"] < SIGNIFICANCE_LEVEL), "signature": str(signatures["BLEU"]),
            "baseline_chrF++": scores["chrF++"][0].score, "chrF++": scores["chrF++"][1].score,
            "chrF++_p_value": p_values["chrF++"], "chrF++_signature": str(signatures["chrF++"])}


def bootstrap_entry(baseline: Mapping, metric: str) -> tuple[float, float] | None:
    """(system minus baseline, p-value) of ``metric`` from a direction's ``baseline`` entry; None if the
    entry has no test of that metric (results.json written before chrF++ was tested)."""
    if metric == "BLEU":
        return baseline["BLEU"] - baseline["baseline_BLEU"], baseline["p_value"]
    if f"{metric}_p_value" not in baseline:
        return None
    return baseline[metric] - baseline[f"baseline_{metric}"], baseline[f"{metric}_p_value"]


def _average(rows: Sequence[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row.get(key) is not None]
    return sum(values) / len(values) if values else None


def direction_group(corpus: str, src: str, tgt: str) -> str | None:
    """The resource group of a CoVoST-2 X->En direction ("high", "mid", "low"); None elsewhere."""
    if CORPUS_GROUPS[corpus] == "resource" and tgt == "en":
        return resource_group(src)
    return None


def average_rows(directions: Mapping[str, dict], has_seen_split: bool, corpus: str = "covost2") -> dict[str, dict]:
    """Plain means of the per-direction scores over the corpus's groups, seen / zero-shot, and all."""
    rows = list(directions.values())
    selections = {f"avg {group}": [d for d in rows if d.get("group") == group] for group in GROUPS}
    if has_seen_split:
        selections["avg seen"] = [d for d in rows if d["seen"]]
        selections["avg zero-shot"] = [d for d in rows if not d["seen"]]
    if CORPUS_GROUPS[corpus] == "language":
        selections.update({f"avg from {src}": [d for d in rows if d["src"] == src]
                           for src in sorted({d["src"] for d in rows})})
        selections.update({f"avg into {tgt}": [d for d in rows if d["tgt"] == tgt]
                           for tgt in sorted({d["tgt"] for d in rows})})
    selections["avg all"] = rows
    averages = {}
    for label, rows in selections.items():
        if not rows:
            continue
        averages[label] = {"n_directions": len(rows), "n_utts": sum(d["n_utts"] for d in rows),
                           **{metric: _average(rows, metric) for metric in METRICS}}
        if any("diagnostics" in d for d in rows):
            averages[label]["diagnostics"] = average_diagnostics(rows)
        if any("baseline" in d for d in rows):
            averages[label]["baseline_BLEU"] = _average([d["baseline"] for d in rows if "baseline" in d],
                                                        "baseline_BLEU")
    return averages


def transfer_gaps(averages: Mapping[str, dict]) -> dict[str, float]:
    """TRFGap, the cross-lingual transfer gap of arXiv 2306.00789 (v3): the average BLEU of the
    high-resource directions minus that of the mid- and of the low-resource ones ("high-mid",
    "high-low"), where both groups were scored; smaller is better transfer."""
    gaps = {}
    for high, low in TRANSFER_GAPS:
        if f"avg {high}" in averages and f"avg {low}" in averages:
            gaps[f"{high}-{low}"] = averages[f"avg {high}"]["BLEU"] - averages[f"avg {low}"]["BLEU"]
    return gaps


def _direction_key(name: str, group: str | None) -> tuple:
    """Directions by resource group (CoVoST-2 X->En), then by name."""
    return (GROUPS.index(group) if group else len(GROUPS)), name


def _average_key(label: str) -> tuple:
    """avg high / mid / low, seen, zero-shot, from <src>..., into <tgt>..., all."""
    fixed = (*(f"avg {group}" for group in GROUPS), "avg seen", "avg zero-shot")
    if label in fixed:
        return fixed.index(label), ""
    for rank, prefix in enumerate(("avg from ", "avg into "), len(fixed)):
        if label.startswith(prefix):
            return rank, label
    return len(fixed) + 2, label


def score_experiment(decode_dirs: Sequence[Path], seen_langs: Sequence[str] | None = None,
                     baseline_exp_dir: Path | None = None, bootstrap_samples: int = 1000,
                     corpus: str = "covost2", lid_langs: Sequence[str] | None = None) -> dict:
    """Score the decode dirs of one experiment; returns the results.json content (without header info).

    ``seen_langs``: source languages seen in training (None: every direction counts as seen). With
    ``baseline_exp_dir``, the same ``<tag>/<set>`` decode dirs under it are compared by paired bootstrap.
    ``corpus`` (a key of ``CORPUS_GROUPS``) chooses how the directions are grouped in the averages.
    ``lid_langs``: the languages the diagnostics' language identifier chooses among (the recipe's source and
    target languages; the scored directions' languages are added); None: all the identifier knows.
    """
    if bootstrap_samples < 1:
        raise ValueError(f"bootstrap_samples must be positive, got {bootstrap_samples}")
    if corpus not in CORPUS_GROUPS:
        raise ValueError(f"unknown corpus {corpus!r}; known: {', '.join(CORPUS_GROUPS)}")
    seen = None if seen_langs is None else {normalize(lang) for lang in seen_langs}
    own = [read_decode_dir(path) for path in decode_dirs]
    tags = collect_directions(own)
    if lid_langs is not None:
        lid_langs = [*lid_langs, *(lang for directions in tags.values() for direction in directions.values()
                                   for lang in (direction.src, direction.tgt))]
    identifier = Identifier(lid_langs)
    baseline_hyps: dict[tuple[str, str], str] = {}
    if baseline_exp_dir is not None:
        for ddir in own:
            baseline = _read_baseline(ddir, Path(baseline_exp_dir))
            baseline_hyps.update({(ddir.tag, utt): hyp for utt, hyp in baseline.hyp.items()})
    results: dict = {"corpus": corpus, "seen_langs": None if seen is None else sorted(seen),
                     "baseline_exp_dir": None if baseline_exp_dir is None else str(baseline_exp_dir),
                     "bootstrap_samples": bootstrap_samples if baseline_exp_dir is not None else None,
                     "language_identifier": identifier.description(), "tags": {}}
    for tag, directions in sorted(tags.items()):
        rows = {}
        for name, direction in directions.items():
            logging.info("scoring %s %s (%d utterances)", tag, name, len(direction.utts))
            scores = score_corpus(direction.hyps, direction.refs, direction.tgt)
            row = {"src": direction.src, "tgt": direction.tgt,
                   "group": direction_group(corpus, direction.src, direction.tgt), "seen": seen is None or direction.src in seen, "n_utts": len(direction.utts),
                   **{metric: scores[metric] for metric in METRICS},
                   "signatures": scores["signatures"], "decode_dirs": direction.decode_dirs,
                   "diagnostics": diagnose(zip(direction.hyps, direction.refs), direction.src, direction.tgt,
                                           identifier)}
            if baseline_exp_dir is not None:
                logging.info("paired bootstrap %s %s against %s (%d resamples)", tag, name,
                             baseline_exp_dir, bootstrap_samples)
                row["baseline"] = paired_bootstrap(direction.hyps,
                                                   [baseline_hyps[tag, utt] for utt in direction.utts],
                                                   direction.refs, direction.tgt, bootstrap_samples)
            rows[name] = row
        rows = dict(sorted(rows.items(), key=lambda item: _direction_key(item[0], item[1]["group"])))
        averages = average_rows(rows, seen is not None, corpus)
        results["tags"][tag] = {"directions": rows, "averages": averages, "trfgap": transfer_gaps(averages)}
    return results


def _read_baseline(own: DecodeDir, baseline_exp_dir: Path) -> DecodeDir:
    """The baseline's decode dir matching ``own``, checked to hold the same utterances and references."""
    path = baseline_exp_dir / own.tag / own.path.name
    if not path.is_dir():
        raise FileNotFoundError(f"baseline decode dir {path} (for {own.path}) does not exist: decode the "
                                f"baseline experiment on the same test sets with the same decode tag first")
    baseline = read_decode_dir(path)
    check_same_ids(f"baseline comparison {own.path} vs {path}", "the decode dir", own.ref,
                   "the baseline decode dir", baseline.ref)
    differing = [utt for utt in sorted(own.ref) if own.ref[utt] != baseline.ref[utt]]
    if differing:
        raise ValueError(f"baseline comparison {own.path} vs {path}: {len(differing)} references differ "
                         f"(e.g. {', '.join(differing[:3])}); both must be decoded from the same test set")
    return baseline


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _value(row: Mapping, column: str) -> float | None:
    """A score (``METRICS``) or a diagnostic (``DIAGNOSTICS``) of a direction or average row; None if absent."""
    return row.get(column) if column in METRICS else (row.get("diagnostics") or {}).get(column)


def _cell(row: Mapping, column: str) -> str:
    return _fmt(_value(row, column), 2 if column == "length_ratio" else 1)


def tag_markdown(tag: str, tag_results: dict) -> str:
    """One decode tag: the table (directions, then avg rows), the footnote and the signatures."""
    directions, averages = tag_results["directions"], tag_results["averages"]
    with_baseline = any("baseline" in row for row in directions.values())
    with_groups = any(row.get("group") for row in directions.values())
    diagnostics = DIAGNOSTICS if any("diagnostics" in row for row in directions.values()) else ()
    header = ["direction", *(["group"] if with_groups else []), "seen/zero-shot", "#utts", *METRICS,
              *(LABELS[key] for key in diagnostics)]
    if with_baseline:
        header += ["baseline BLEU", "p-value", f"sig. (p<{SIGNIFICANCE_LEVEL})"]
    rows = []
    for name, row in directions.items():
        cells = [name, *([row.get("group") or ""] if with_groups else []), "seen" if row["seen"] else "zero-shot",
                 str(row["n_utts"]), *(_cell(row, column) for column in (*METRICS, *diagnostics))]
        if with_baseline:
            base = row.get("baseline")
            cells += ["-", "-", "-"] if base is None else [
                _fmt(base["baseline_BLEU"]), _fmt(base["p_value"], 4), "yes" if base["significant"] else "no"]
        rows.append(cells)
    for label, avg in averages.items():
        cells = [f"**{label}**", *([""] if with_groups else []), "", str(avg["n_utts"]),
                 *(_cell(avg, column) for column in (*METRICS, *diagnostics))]
        if with_baseline:
            cells += [_fmt(avg.get("baseline_BLEU")), "", ""]
        rows.append(cells)
    text_columns = 3 if with_groups else 2
    align = ["left"] * text_columns + ["right"] * (len(header) - text_columns)
    lines = [f"## {tag}", "", markdown_table(header, rows, align), "", AVERAGES_NOTE]
    if diagnostics:
        lines.append(NOTE)
    gaps = tag_results.get("trfgap")
    if gaps:
        lines.append(f"{TRANSFER_GAP_NOTE} " + ", ".join(f"{name}: {gap:.1f}" for name, gap in gaps.items()) + ".")
    if with_baseline:
        lines.append("Baseline: paired bootstrap resampling test of BLEU (sacreBLEU), two-sided; "
                     "p-value of the difference between this experiment and the baseline (chrF++'s test is in "
                     "results.json and in sst.bin.score --side_by_side).")
    lines += ["", "Signatures:", ""]
    lines += [f"- {what} ({', '.join(names)}): `{sig}`" for (what, sig), names in _signatures(directions).items()]
    return "\n".join(lines) + "\n"


def _signatures(directions: Mapping[str, dict]) -> dict[tuple[str, str], list[str]]:
    """(metric, signature) -> directions using it, so shared signatures are listed once."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for name, row in directions.items():
        for metric, sig in row["signatures"].items():
            grouped.setdefault((metric, sig), []).append(name)
        if "baseline" in row:
            grouped.setdefault(("paired bootstrap BLEU", row["baseline"]["signature"]), []).append(name)
            if "chrF++_signature" in row["baseline"]:
                grouped.setdefault(("paired bootstrap chrF++", row["baseline"]["chrF++_signature"]), []).append(name)
    return grouped


def results_markdown(results: dict, command: str) -> str:
    """The whole RESULTS.md: environment header, then one section per decode tag."""
    lines = ["<!-- Generated by sst.bin.score -->", "# RESULTS", "## Environment", "",
             *environment_lines(command)]
    if results.get("seen_langs") is not None:
        lines.append(f"- seen source languages: `{' '.join(results['seen_langs'])}`")
    lid = results.get("language_identifier")
    if lid:
        lines.append(f"- language identifier: `{lid['name']} {lid['version']}` over `{' '.join(lid['languages'])}`")
    if results.get("baseline_exp_dir"):
        lines.append(f"- baseline: `{results['baseline_exp_dir']}` "
                     f"({results['bootstrap_samples']} bootstrap resamples)")
    sections = [tag_markdown(tag, tag_results) for tag, tag_results in results["tags"].items()]
    sections += [segmentation_markdown(tag, results["tags"][tag], results["tags"][tag + LONGFORM_SUFFIX])
                 for tag in results["tags"] if tag + LONGFORM_SUFFIX in results["tags"]]
    return "\n".join(lines) + "\n\n" + "\n".join(sections)


def segmentation_markdown(tag: str, gold: dict, longform: dict) -> str:
    """The gold segmentation (decode tag ``tag``) and the VAD segmentation re-segmented to the
    references (``<tag>_longform``, sst.bin.longform_decode) side by side, per direction and on average."""
    header = ["direction", *(f"{metric} {kind}" for metric in METRICS for kind in ("gold", "VAD"))]
    rows = []
    for kind, display in (("directions", str), ("averages", lambda label: f"**{label}**")):
        for name in [name for name in gold[kind] if name in longform[kind]]:
            rows.append([display(name), *(_fmt(source[kind][name][metric]) for metric in METRICS
                                          for source in (gold, longform))])
    return "\n".join([f"## {tag}: gold vs VAD segmentation", "",
                      markdown_table(header, rows, ["left"] + ["right"] * (len(header) - 1)), "",
                      "gold: the corpus's own segments; VAD: each recording translated whole, segmented by the "
                      "VAD, its hypotheses re-segmented to the reference segments by minimum-WER alignment "
                      "(mwerSegmenter, as in IWSLT), then scored the same way."]) + "\n"


def _compared_with_first(experiments: Mapping[str, dict]) -> list[str]:
    """The experiments after the first whose stage 6 compared them with the first (their
    ``baseline_exp_dir`` is the first's ``exp_dir``): their paired bootstrap tests go in the table."""
    names = list(experiments)
    if not names or "exp_dir" not in experiments[names[0]]:
        return []
    first = Path(experiments[names[0]]["exp_dir"]).resolve()
    return [name for name in names[1:] if experiments[name].get("baseline_exp_dir")
            and Path(experiments[name]["baseline_exp_dir"]).resolve() == first]


def _difference_cells(tag_results: dict, baseline: dict, kind: str, name: str, metrics: Sequence[str]) -> list[str]:
    """Difference to the baseline and its p-value per metric: from the paired bootstrap entry of a
    direction; for an average, the difference of the two averages (no test)."""
    cells = []
    row = tag_results.get(kind, {}).get(name, {})
    for metric in metrics:
        if kind == "directions":
            entry = bootstrap_entry(row["baseline"], metric) if "baseline" in row and metric in BOOTSTRAP_METRICS \
                else None
            cells += ["-", "-"] if entry is None else [f"{entry[0]:+.1f}", _fmt(entry[1], 3)]
        else:
            own, base = row.get(metric), baseline.get(kind, {}).get(name, {}).get(metric)
            cells += ["-" if own is None or base is None else f"{own - base:+.1f}", ""]
    return cells


def side_by_side_markdown(experiments: Mapping[str, dict], metrics: Sequence[str] = ("BLEU",)) -> str:
    """``metrics`` (scores of ``METRICS`` and diagnostics of ``DIAGNOSTICS``) of several experiments
    (name -> results.json content) side by side, one table per tag; with several metrics, one column per
    experiment and metric. An experiment scored against the first one (``--baseline_exp_dir``) also gets,
    per score, its difference to the first and the p-value of stage 6's paired bootstrap test of each
    direction (averages: the difference of the averages)."""
    unknown = [metric for metric in metrics if metric not in (*METRICS, *DIAGNOSTICS)]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {[*METRICS, *DIAGNOSTICS]}")
    scores = [metric for metric in metrics if metric in METRICS]  # differences to the first: of these only
    shown = [LABELS.get(metric, metric) for metric in metrics]
    tags = sorted({tag for results in experiments.values() for tag in results["tags"]})
    first = next(iter(experiments), None)
    compared = _compared_with_first(experiments)
    sections = [f"# {' / '.join(shown)} side by side", ""]
    with_gaps = False
    for tag in tags:
        groups: dict[str, str | None] = {}
        splits: dict[str, set[str]] = {}  # direction -> seen / zero-shot in the experiments with a split
        labels: list[str] = []
        gap_names: list[str] = []
        for results in experiments.values():
            tag_results = results["tags"].get(tag, {"directions": {}, "averages": {}})
            for name, row in tag_results["directions"].items():
                groups.setdefault(name, row.get("group"))
                if results.get("seen_langs") is not None:
                    splits.setdefault(name, set()).add("seen" if row["seen"] else "zero-shot")
            labels += [label for label in tag_results["averages"] if label not in labels]
            gap_names += [name for name in tag_results.get("trfgap", {}) if name not in gap_names]
        with_groups = any(groups.values())
        texts = [*(["group"] if with_groups else []), *(["seen/zero-shot"] if splits else [])]
        directions = sorted(groups, key=lambda name: _direction_key(name, groups[name]))
        labels.sort(key=_average_key)
        baseline_tag = experiments[first]["tags"].get(tag, {}) if compared else {}
        rows = []
        for kind, names, display in (("directions", directions, lambda name: name),
                                     ("averages", labels, lambda label: f"**{label}**")):
            for name in names:
                rows.append([display(name), *([groups.get(name) or ""] if with_groups else []),
                             *([" / ".join(sorted(splits.get(name, [])))] if splits else [])] + [
                    _cell(results["tags"].get(tag, {}).get(kind, {}).get(name, {}), metric)
                    for results in experiments.values() for metric in metrics] + [
                    cell for other in compared for cell in _difference_cells(
                        experiments[other]["tags"].get(tag, {}), baseline_tag, kind, name, scores)])
        for name in gap_names:  # TRFGap is a BLEU difference: it goes in the BLEU columns
            rows.append([f"**TRFGap {name}**", *[""] * len(texts)] + [
                _fmt(results["tags"].get(tag, {}).get("trfgap", {}).get(name)) if metric == "BLEU" else ""
                for results in experiments.values() for metric in metrics] + [""] * (2 * len(scores) * len(compared)))
        with_gaps = with_gaps or bool(gap_names)
        columns = [name if len(metrics) == 1 else f"{name} {label}" for name in experiments for label in shown]
        prefix = {other: "" if len(compared) == 1 else f"{other} " for other in compared}
        columns += [f"{prefix[other]}{label} {metric}" for other in compared for metric in scores
                    for label in ("Δ", "p")]
        header = ["direction", *texts, *columns]
        align = ["left"] * (1 + len(texts)) + ["right"] * len(columns)
        sections += [f"## {tag}", "", markdown_table(header, rows, align), ""]
    sections.append(f"{' / '.join(shown)} per direction; '-' where an experiment has no score. Averages (avg "
                    "rows) are plain, unweighted means of the per-direction scores of each experiment; each "
                    "experiment's seen/zero-shot split is its own (its --seen_langs).")
    if len(scores) < len(metrics):
        sections.append(NOTE)
    if compared and scores:
        samples = {experiments[other].get("bootstrap_samples") for other in compared}
        sections.append(f"Δ: {', '.join(compared)} minus {first}; p: p-value of that difference by sacreBLEU's "
                        f"paired bootstrap resampling test ({', '.join(str(n) for n in sorted(samples, key=str))} "
                        f"resamples, stage 6 with --baseline_exp_dir {first}); p < {SIGNIFICANCE_LEVEL} is "
                        "significant. The avg rows' Δ is the difference of the averages (not tested).")
    if with_gaps:
        sections.append(f"{TRANSFER_GAP_NOTE} read it against the paper's.")
    return "\n".join(sections) + "\n"

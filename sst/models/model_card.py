"""The model card of a packed model: ``packed/README.md`` in the Hugging Face model-card convention.

YAML front matter (language, license, tags, datasets, metrics, base_model), then what the model is
(encoder, decoder, adapters, trainable and frozen parameters, package kind), its training data (the
dump dirs of the experiment's config: utterances per direction) and config, its results (the
experiment's RESULTS.md, when stage 6 has written one, and its results.json as the front matter's
``model-index``) and the command and Python lines that translate a file with it.
``sst.models.packing.pack`` writes it; ``sst.bin.score`` writes it again after scoring. The card
describes the model and changes nothing it computes: provenance leaves it out of a model's
fingerprint (sst.data.provenance.model_fingerprint).

Light on purpose (no torch): it reads what packing left in the package (``package.json``).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import yaml

from sst.io import iter_kv, write_text

PACKED = "packed"
# What packing records about a package: its kind, parameter counts, and for an adapter-only package its bases.
MANIFEST = "package.json"
CARD = "README.md"
# Training settings the card lists (the whole config follows in a details block).
KEY_SETTINGS = ("optim", "optim_conf", "scheduler", "scheduler_conf", "batch_type", "batch_bins", "accum_grad",
                "max_epoch", "keep_nbest_models", "best_model_criterion", "seed")


def _directions(dump: Path) -> Counter:
    """(source, target) language -> utterances of a dump dir, from its sorted utt2lang / utt2tgt_lang."""
    counts: Counter = Counter()
    if not (dump / "utt2lang").is_file() or not (dump / "utt2tgt_lang").is_file():
        return counts
    for (utt, src, _), (other, tgt, _) in zip(iter_kv(dump / "utt2lang"), iter_kv(dump / "utt2tgt_lang")):
        if utt != other:  # not the same utterances: give no direction counts rather than wrong ones
            return Counter()
        counts[src, tgt] += 1
    return counts


def _utterances(dump: Path) -> int | None:
    """Lines of a dump dir's wav.scp (streamed), None when it is not at hand."""
    if not (dump / "wav.scp").is_file():
        return None
    with (dump / "wav.scp").open("rb") as lines:
        return sum(1 for _ in lines)


def _dump_dirs(config: dict, split: str) -> list[Path]:
    """The dump dirs of the ``split`` (train / valid) data in an ESPnet config."""
    return sorted({Path(entry[0]).parent for entry in config.get(f"{split}_data_path_and_name_and_type") or []})


def recipe_dir(exp_dir: Path) -> Path | None:
    """The recipe folder of an experiment dir (``<recipe>/exp/<name>``); None for one outside an ``exp/``."""
    resolved = Path(exp_dir).resolve()
    return resolved.parents[1] if resolved.parent.name == "exp" else None


def _is_hub_id(name: str) -> bool:
    return not Path(name).exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None


def _results(exp_dir: Path) -> str:
    """The experiment's RESULTS.md, its title dropped and its headings one level down, or a note."""
    path = exp_dir / "RESULTS.md"
    if not path.is_file():
        return "Not scored yet: stage 6 (`python -m sst.bin.score --exp_dir ...`) writes the results here."
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(f"#{line}" if line.startswith("#") else line for line in lines).strip()


def _encoder_class(packed: Path) -> str:
    """The transformers class of the package's speech encoder, by the ``model_type`` of its config."""
    from sst.models.speech_encoder import ENCODER_CLASSES

    model_type = json.loads((packed / "encoder" / "config.json").read_text(encoding="utf-8"))["model_type"]
    return ENCODER_CLASSES[model_type].__name__ if model_type in ENCODER_CLASSES else model_type


def model_index(model_name: str, results: dict, dataset: str) -> list[dict]:
    """The ``model-index`` front matter of an experiment's results.json (sst.bin.score): BLEU and chrF++ of
    each scored direction, with sacreBLEU's signature, through huggingface_hub's EvalResult, so the hub shows
    the scores. The hub has no speech-translation task type: ``translation``, named "Speech translation"."""
    from huggingface_hub import EvalResult, ModelCardData

    evaluations = []
    for tag, scored in results["tags"].items():
        for direction, row in scored["directions"].items():
            split = Path(row["decode_dirs"][0]).name.split("_")[0] if row.get("decode_dirs") else None
            evaluations += [EvalResult(task_type="translation", task_name="Speech translation", dataset_type=dataset,
                                       dataset_name=f"{dataset} {direction} ({tag})", dataset_config=direction,
                                       dataset_split=split, metric_type=metric_type, metric_name=metric,
                                       metric_value=round(row[metric], 2), metric_config=row["signatures"][metric])
                            for metric, metric_type in (("BLEU", "bleu"), ("chrF++", "chrf"))]
    if not evaluations:
        return []
    return ModelCardData(model_name=model_name, eval_results=evaluations).to_dict()["model-index"]


def card_text(packed: Path, exp_dir: Path, model_dir: Path) -> str:
    """The card of the package in ``packed`` (read from its package.json and config.yaml) of the
    experiment ``exp_dir``; ``model_dir`` is the path the translate command names."""
    manifest = json.loads((packed / MANIFEST).read_text(encoding="utf-8"))
    # The experiment's config names the bases as trained; a package moved away from it has its own copy.
    config_file = exp_dir / "config.yaml" if (exp_dir / "config.yaml").is_file() else packed / "config.yaml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    model_conf = config.get("model_conf") or {}
    # An adapter-only package's bases as it names them (a published one: by hub id), a full one's as trained.
    named = {base["option"]: base["from"] for base in manifest.get("bases", {}).values()}
    encoder, decoder = (str(named.get(key, model_conf.get(key, ""))) for key in ("encoder_model", "decoder_model"))
    dumps = {split: {dump: (_utterances(dump), _directions(dump)) for dump in _dump_dirs(config, split)}
             for split in ("train", "valid")}
    directions = Counter()
    for _, counts in dumps["train"].values():
        directions.update(counts)
    languages = sorted({lang for pair in directions for lang in pair})
    targets = sorted({tgt for _, tgt in directions}) or ["en"]
    recipe = recipe_dir(exp_dir).name if recipe_dir(exp_dir) is not None else None
    front = {"language": languages, "license": "other", "tags": ["speech-translation", "sst", "adapters", "espnet"],
             "datasets": [recipe] if recipe else [], "metrics": ["bleu", "chrf", "ter"]}
    hub_bases = [name for name in (encoder, decoder) if _is_hub_id(name)]
    if hub_bases:  # a local base (e.g. the SAMU export) has no hub id to name
        front["base_model"] = hub_bases
    if (exp_dir / "results.json").is_file():
        index = model_index(exp_dir.name, json.loads((exp_dir / "results.json").read_text(encoding="utf-8")),
                            recipe or "sst")
        if index:
            front["model-index"] = index
    params = manifest["parameters"]
    total = params["trainable"] + params["frozen"]
    kind = manifest["kind"]
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), "---", "",
             f"# {exp_dir.name}", "",
             f"Speech translation with a frozen speech encoder (`{encoder}`, {_encoder_class(packed)}) and a frozen mBART "
             f"decoder (`{decoder}`), joined by a {model_conf.get('length_adaptor_layers', 3)}-layer length adaptor, "
             f"with bottleneck adapters (encoder {model_conf.get('encoder_adapter_dim', 768)}, decoder "
             f"{model_conf.get('decoder_adapter_dim', 768)} dims) in every layer; frozen groups "
             f"{model_conf.get('freeze', ['encoder', 'decoder'])}, kept trainable "
             f"{model_conf.get('keep_trainable', [])}. "
             f"Trained with the sst toolkit. Parameters: {params['trainable']:,} trainable, {params['frozen']:,} "
             f"frozen: {100 * params['trainable'] / max(1, total):.1f} % of all {total:,} were trained.", ""]
    if kind == "adapters":
        lines += ["This is an **adapter-only package**: it holds the trained tensors; the frozen weights are read "
                  "from the bases below (through `from_pretrained`: a hub id needs the hub or its local cache) and "
                  "checked against the digest recorded at packing. A full, self-contained package: stage 4 with "
                  "`--pack full`.", "", "| part | base | frozen tensors | sha256 of the frozen tensors |",
                  "| --- | --- | ---: | --- |"]
        lines += [f"| {part} | `{base['from']}` | {base['tensors']} | `{base['sha256']}` |"
                  for part, base in manifest["bases"].items()]
    else:
        lines += ["This is a **full package**: every weight, the configs and the tokenizer; it needs neither the "
                  "hub nor the bases."]
    lines += ["", "## Training data", "", "| split | dump dir | utterances | directions (utterances) |",
              "| --- | --- | ---: | --- |"]
    for split, sets in dumps.items():
        for dump, (count, counts) in sets.items():
            pairs = ", ".join(f"{src}→{tgt} ({n:,})" for (src, tgt), n in sorted(counts.items())) or "-"
            lines.append(f"| {split} | `{dump}` | {'-' if count is None else f'{count:,}'} | {pairs} |")
    settings = {key: config[key] for key in KEY_SETTINGS if key in config}
    lines += ["", "## Training config", "", "```yaml", yaml.safe_dump({"model_conf": model_conf, **settings},
                                                                       sort_keys=False).strip(), "```", "",
              "<details><summary>The whole config.yaml</summary>", "", "```yaml",
              yaml.safe_dump(config, sort_keys=False).strip(), "```", "", "</details>", "",
              "## Results", "", _results(exp_dir), "",
              "## Use", "", "```sh",
              f"python -m sst.bin.translate --model_dir {model_dir} --tgt_lang {targets[0]} a.wav",
              "```", "", "```python", "from sst import Translator", "",
              f'translator = Translator.from_pretrained("{model_dir}")',
              f'print(translator.translate(["a.wav"], tgt_lang="{targets[0]}"))', "```", "",
              "Any audio format (wav, flac, mp3, m4a, ...) and length; `--format srt` writes subtitles "
              "(`python -m sst.bin.translate --help`).", ""]
    return "\n".join(lines)


def write_model_card(packed: Path, exp_dir: Path, model_dir: Path | None = None) -> Path:
    """Write ``packed/README.md`` (see :func:`card_text`); returns its path."""
    path = packed / CARD
    write_text(path, card_text(packed, exp_dir, packed if model_dir is None else model_dir))
    return path


def refresh_model_card(exp_dir: Path) -> Path | None:
    """Write the card of ``exp_dir/packed`` again (e.g. with new results); None where there is no package
    with a manifest."""
    packed = exp_dir / PACKED
    return write_model_card(packed, exp_dir) if (packed / MANIFEST).is_file() else None

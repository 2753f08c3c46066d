"""Synthesise the mini_st demo corpus with espeak-ng, laid out like CoVoST-2 + Common Voice v4.

Sentences composed from three templates (a car's price on a weekday, a bus's colour and departure
hour, a meeting's weekday and hour: numbers, prices, times, weekdays and colours) are spoken by several
espeak-ng voice variants at random speed, pitch and loudness, stored as mono MP3 clips like Common Voice
(16 kHz, about 16 kbit/s, to keep the shipped corpus small), and listed in
``covost/covost_v2.<src>_en.tsv`` and ``commonvoice/<src>/validated.tsv``. Each template's sentences are
cut once into train, dev and test, so test sentences are new combinations of words seen in train.
Fixed seed: the same espeak-ng version gives the same corpus.

    python egs/mini_st/local/synthesize_corpus.py --output_dir egs/mini_st/corpus --overwrite
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from tqdm import tqdm

LANGS = ("fr", "de", "es", "it", "pt", "nl")
ESPEAK_VOICES = {"fr": "fr", "de": "de", "es": "es", "it": "it", "pt": "pt-br", "nl": "nl"}
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "f4")
SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16000    # what stage 2 resamples to anyway (Common Voice itself is 48 kHz)
MP3_COMPRESSION = 0.95  # constant bitrate, about 16 kbit/s at 16 kHz: speech band kept, small files
SPEED = (150, 200)     # espeak-ng words per minute

# English, then the word per language in LANGS order.
NUMBERS = [
    ("two", "deux", "zwei", "dos", "due", "dois", "twee"),
    ("three", "trois", "drei", "tres", "tre", "três", "drie"),
    ("four", "quatre", "vier", "cuatro", "quattro", "quatro", "vier"),
    ("five", "cinq", "fünf", "cinco", "cinque", "cinco", "vijf"),
    ("six", "six", "sechs", "seis", "sei", "seis", "zes"),
    ("seven", "sept", "sieben", "siete", "sette", "sete", "zeven"),
    ("eight", "huit", "acht", "ocho", "otto", "oito", "acht"),
    ("nine", "neuf", "neun", "nueve", "nove", "nove", "negen"),
    ("ten", "dix", "zehn", "diez", "dieci", "dez", "tien"),
    ("eleven", "onze", "elf", "once", "undici", "onze", "elf"),
    ("twelve", "douze", "zwölf", "doce", "dodici", "doze", "twaalf"),
    ("thirteen", "treize", "dreizehn", "trece", "tredici", "treze", "dertien"),
    ("fourteen", "quatorze", "vierzehn", "catorce", "quattordici", "catorze", "veertien"),
    ("fifteen", "quinze", "fünfzehn", "quince", "quindici", "quinze", "vijftien"),
    ("sixteen", "seize", "sechzehn", "dieciséis", "sedici", "dezesseis", "zestien"),
    ("seventeen", "dix-sept", "siebzehn", "diecisiete", "diciassette", "dezessete", "zeventien"),
    ("eighteen", "dix-huit", "achtzehn", "dieciocho", "diciotto", "dezoito", "achttien"),
    ("nineteen", "dix-neuf", "neunzehn", "diecinueve", "diciannove", "dezenove", "negentien"),
    ("twenty", "vingt", "zwanzig", "veinte", "venti", "vinte", "twintig"),
]
HOURS = NUMBERS[:11]  # two to twelve o'clock; hours are feminine in Portuguese: "duas horas"
HOUR_WORDS = {"pt": {"dois": "duas"}}
# "On Monday" as each language says it in front of (or inside) a sentence.
DAYS = [
    ("Monday", "lundi", "am Montag", "el lunes", "lunedì", "na segunda-feira", "op maandag"),
    ("Tuesday", "mardi", "am Dienstag", "el martes", "martedì", "na terça-feira", "op dinsdag"),
    ("Wednesday", "mercredi", "am Mittwoch", "el miércoles", "mercoledì", "na quarta-feira", "op woensdag"),
    ("Thursday", "jeudi", "am Donnerstag", "el jueves", "giovedì", "na quinta-feira", "op donderdag"),
    ("Friday", "vendredi", "am Freitag", "el viernes", "venerdì", "na sexta-feira", "op vrijdag"),
    ("Saturday", "samedi", "am Samstag", "el sábado", "sabato", "no sábado", "op zaterdag"),
    ("Sunday", "dimanche", "am Sonntag", "el domingo", "domenica", "no domingo", "op zondag"),
]
# Colours as they agree with the nouns of the templates: "m" masculine (fr, it: the bus; es, pt: both
# nouns), "f" feminine (fr la voiture, it la macchina), de/nl one weak form after the definite article.
COLOURS = [
    {"en": "red", "fr": ("rouge", "rouge"), "de": "rote", "es": "rojo", "it": ("rosso", "rossa"),
     "pt": "vermelho", "nl": "rode"},
    {"en": "blue", "fr": ("bleu", "bleue"), "de": "blaue", "es": "azul", "it": ("blu", "blu"),
     "pt": "azul", "nl": "blauwe"},
    {"en": "green", "fr": ("vert", "verte"), "de": "grüne", "es": "verde", "it": ("verde", "verde"),
     "pt": "verde", "nl": "groene"},
    {"en": "yellow", "fr": ("jaune", "jaune"), "de": "gelbe", "es": "amarillo", "it": ("giallo", "gialla"),
     "pt": "amarelo", "nl": "gele"},
    {"en": "black", "fr": ("noir", "noire"), "de": "schwarze", "es": "negro", "it": ("nero", "nera"),
     "pt": "preto", "nl": "zwarte"},
    {"en": "white", "fr": ("blanc", "blanche"), "de": "weiße", "es": "blanco", "it": ("bianco", "bianca"),
     "pt": "branco", "nl": "witte"},
]
# Templates: English, then each language. Slots: {day} {colour} {colour_f} {price} {hour}.
TEMPLATES = {
    "price": {"en": "On {day} the {colour} car costs {price} euros.",
              "fr": "{day}, la voiture {colour_f} coûte {price} euros.",
              "de": "{day} kostet das {colour} Auto {price} Euro.",
              "es": "{day} el coche {colour} cuesta {price} euros.",
              "it": "{day} la macchina {colour_f} costa {price} euro.",
              "pt": "{day} o carro {colour} custa {price} euros.",
              "nl": "{day} kost de {colour} auto {price} euro."},
    "bus": {"en": "The {colour} bus leaves at {hour} o'clock.",
            "fr": "Le bus {colour} part à {hour} heures.",
            "de": "Der {colour} Bus fährt um {hour} Uhr ab.",
            "es": "El autobús {colour} sale a las {hour}.",
            "it": "L'autobus {colour} parte alle {hour}.",
            "pt": "O ônibus {colour} sai às {hour} horas.",
            "nl": "De {colour} bus vertrekt om {hour} uur."},
    "meeting": {"en": "We meet on {day} at {hour} o'clock.",
                "fr": "Nous nous voyons {day} à {hour} heures.",
                "de": "Wir treffen uns {day} um {hour} Uhr.",
                "es": "Nos vemos {day} a las {hour}.",
                "it": "Ci vediamo {day} alle {hour}.",
                "pt": "Nós nos encontramos {day} às {hour} horas.",
                "nl": "We zien elkaar {day} om {hour} uur."},
}
# Share of each template's sentences held out for the test and dev splits of every language.
HELD_OUT = {"test": 0.3, "dev": 0.1}


def _slot_values(lang: str, day: int, colour: int, price: int, hour: int) -> dict[str, str]:
    """The slot fillers of one sentence in ``lang`` (or English)."""
    column = 0 if lang == "en" else LANGS.index(lang) + 1
    forms = COLOURS[colour][lang]
    masculine, feminine = forms if isinstance(forms, tuple) else (forms, forms)
    hour_word = HOURS[hour][column]
    return {"day": DAYS[day][column], "colour": masculine, "colour_f": feminine,
            "price": NUMBERS[price][column], "hour": HOUR_WORDS.get(lang, {}).get(hour_word, hour_word)}


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def sentence_table() -> dict[str, list[dict[str, str]]]:
    """Every sentence of every template as {"en": ..., "fr": ..., ...}, by template name."""
    slots = {"price": [(d, c, p, 0) for d in range(len(DAYS)) for c in range(len(COLOURS))
                       for p in range(len(NUMBERS))],
             "bus": [(0, c, 0, h) for c in range(len(COLOURS)) for h in range(len(HOURS))],
             "meeting": [(d, 0, 0, h) for d in range(len(DAYS)) for h in range(len(HOURS))]}
    return {name: [{lang: _capitalise(TEMPLATES[name][lang].format(**_slot_values(lang, *values)))
                    for lang in ("en",) + LANGS} for values in slots[name]]
            for name in TEMPLATES}


def split_pools(seed: int) -> dict[str, dict[str, list[dict[str, str]]]]:
    """split -> template -> its sentences: each template's sentences shuffled once (the same for every
    language) and cut into test, dev and train, so no test or dev sentence is a train sentence."""
    rng = random.Random(f"{seed}-pools")
    pools: dict[str, dict[str, list[dict[str, str]]]] = {split: {} for split in SPLITS}
    for name, sentences in sentence_table().items():
        order = rng.sample(sentences, len(sentences))
        n_test, n_dev = round(HELD_OUT["test"] * len(order)), round(HELD_OUT["dev"] * len(order))
        pools["test"][name], pools["dev"][name] = order[:n_test], order[n_test:n_test + n_dev]
        pools["train"][name] = order[n_test + n_dev:]
    return pools


def client_id(lang: str, variant: str) -> str:
    """A fake Common Voice speaker hash, one per language and espeak-ng voice variant."""
    return hashlib.sha512(f"mini_st-{lang}-{variant}".encode()).hexdigest()


def synthesize(text: str, voice: str, speed: int, pitch: int, amplitude: int, workdir: Path) -> np.ndarray:
    """espeak-ng speech for ``text``, silence trimmed to 0.15 s each side, resampled to SAMPLE_RATE, float32."""
    wav = workdir / "utt.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude),
                    "-w", str(wav), text], check=True, capture_output=True)
    audio, rate = sf.read(wav, dtype="float32")
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    pad = int(0.15 * rate)
    audio = audio[max(loud[0] - pad, 0):loud[-1] + pad]
    return torchaudio.functional.resample(torch.from_numpy(audio), rate, SAMPLE_RATE).numpy()


def plan_split(pools: dict[str, list[dict[str, str]]], size: int, rng: random.Random) -> list[dict[str, str]]:
    """``size`` sentences, the templates in turn, each template's pool drawn without repetition
    (reshuffled when used up, which only train reaches). The next sentence of a template is the first
    one in its queue holding an English word not drawn yet, if any: train covers every word early."""
    names = rng.sample(sorted(pools), len(pools))
    queues: dict[str, list[dict[str, str]]] = {name: [] for name in names}
    order: list[dict[str, str]] = []
    words: set[str] = set()
    for index in range(size):
        name = names[index % len(names)]
        if not queues[name]:
            queues[name] = rng.sample(pools[name], len(pools[name]))
        queue = queues[name]
        pick = next((i for i, sentence in enumerate(queue) if not set(sentence["en"].split()) <= words), 0)
        order.append(queue.pop(pick))
        words.update(order[-1]["en"].split())
    return order


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A tab-separated file quoted like CoVoST-2 / Common Voice (no quoting, backslash escape)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def build_language(lang: str, sizes: dict[str, int], pools: dict[str, dict[str, list[dict[str, str]]]], out: Path,
                   rng: random.Random, clip_base: int, workdir: Path) -> int:
    """Synthesise one source language; returns the number of clips written."""
    clips = out / "commonvoice" / lang / "clips"
    clips.mkdir(parents=True)
    covost_rows, validated_rows, seen = [], [], set()
    ages = {variant: rng.choice(("twenties", "thirties", "fourties", "fifties")) for variant in VARIANTS}
    plan = [(split, sentence) for split in SPLITS for sentence in plan_split(pools[split], sizes[split], rng)]
    for number, (split, sentence) in enumerate(tqdm(plan, desc=lang, leave=False), start=clip_base):
        while True:
            variant = rng.choice(VARIANTS)
            speed, pitch, amplitude = rng.randint(*SPEED), rng.randint(30, 70), rng.randint(70, 130)
            if (sentence["en"], variant, speed, pitch) not in seen:
                seen.add((sentence["en"], variant, speed, pitch))
                break
        name = f"common_voice_{lang}_{number}.mp3"
        audio = synthesize(sentence[lang], f"{ESPEAK_VOICES[lang]}+{variant}", speed, pitch, amplitude, workdir)
        sf.write(clips / name, audio, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III",
                 compression_level=MP3_COMPRESSION, bitrate_mode="CONSTANT")
        speaker = client_id(lang, variant)
        covost_rows.append([name, sentence[lang], sentence["en"], speaker, split])
        gender = "female" if variant.startswith("f") else "male"
        validated_rows.append([speaker, name, sentence[lang], "2", "0", ages[variant], gender, ""])
    write_tsv(out / "covost" / f"covost_v2.{lang}_en.tsv",
              ["path", "sentence", "translation", "client_id", "split"], covost_rows)
    write_tsv(out / "commonvoice" / lang / "validated.tsv",
              ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent"],
              validated_rows)
    return len(plan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, default=Path(__file__).resolve().parents[1] / "corpus")
    parser.add_argument("--langs", nargs="+", default=list(LANGS), choices=LANGS)
    parser.add_argument("--n_train", type=int, default=130)
    parser.add_argument("--n_dev", type=int, default=15)
    parser.add_argument("--n_test", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found: apt-get install -y espeak-ng")

    out: Path = args.output_dir
    for sub in ("covost", "commonvoice"):
        if (out / sub).exists():
            if not args.overwrite:
                raise SystemExit(f"{out / sub} exists; pass --overwrite to regenerate the corpus")
            shutil.rmtree(out / sub)
    (out / "covost").mkdir(parents=True)
    sizes = {"train": args.n_train, "dev": args.n_dev, "test": args.n_test}
    pools = split_pools(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for index, lang in enumerate(args.langs):
            rng = random.Random(f"{args.seed}-{lang}")
            count = build_language(lang, sizes, pools, out, rng, 19000000 + 100000 * index, Path(tmp))
            logging.info("%s: %d clips", lang, count)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    sentences = [sentence["en"] for group in sentence_table().values() for sentence in group]
    english = {word.strip(".") for sentence in sentences for word in sentence.split()}
    logging.info("%s: %d sentences, %d English words, %.2f MB in all", out, len(sentences), len(english),
                 total / 1e6)


if __name__ == "__main__":
    main()

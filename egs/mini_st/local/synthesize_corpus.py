"""Synthesise the mini_st demo corpus with espeak-ng, laid out like CoVoST-2 + Common Voice v4.

Short phrases from a closed set (numbers 0-20, "<n> euro(s)", days, colours, greetings) are spoken
by several espeak-ng voice variants at random speed, pitch and loudness, stored as 48 kHz mono MP3
clips like Common Voice, and listed in ``covost/covost_v2.<src>_en.tsv`` and
``commonvoice/<src>/validated.tsv``. Fixed seed: the same espeak-ng version gives the same corpus.

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
SAMPLE_RATE = 48000
MP3_COMPRESSION = 0.99  # constant bitrate, about 32 kbit/s: speech band kept, small files

# English, then the source phrase per language in LANGS order.
NUMBERS = [
    ("zero", "zéro", "null", "cero", "zero", "zero", "nul"),
    ("one", "un", "eins", "uno", "uno", "um", "een"),
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
# "<n> euro(s)" for n = 1..12: the number word as counted in front of a noun, then the noun.
EURO_ONE = ("one euro", "un euro", "ein Euro", "un euro", "un euro", "um euro", "een euro")
EURO_NOUN = ("euros", "euros", "Euro", "euros", "euro", "euros", "euro")
DAYS = [
    ("Monday", "lundi", "Montag", "lunes", "lunedì", "segunda-feira", "maandag"),
    ("Tuesday", "mardi", "Dienstag", "martes", "martedì", "terça-feira", "dinsdag"),
    ("Wednesday", "mercredi", "Mittwoch", "miércoles", "mercoledì", "quarta-feira", "woensdag"),
    ("Thursday", "jeudi", "Donnerstag", "jueves", "giovedì", "quinta-feira", "donderdag"),
    ("Friday", "vendredi", "Freitag", "viernes", "venerdì", "sexta-feira", "vrijdag"),
    ("Saturday", "samedi", "Samstag", "sábado", "sabato", "sábado", "zaterdag"),
    ("Sunday", "dimanche", "Sonntag", "domingo", "domenica", "domingo", "zondag"),
]
COLOURS = [
    ("red", "rouge", "rot", "rojo", "rosso", "vermelho", "rood"),
    ("blue", "bleu", "blau", "azul", "blu", "azul", "blauw"),
    ("green", "vert", "grün", "verde", "verde", "verde", "groen"),
    ("yellow", "jaune", "gelb", "amarillo", "giallo", "amarelo", "geel"),
    ("black", "noir", "schwarz", "negro", "nero", "preto", "zwart"),
    ("white", "blanc", "weiß", "blanco", "bianco", "branco", "wit"),
]
PHRASES = [
    ("Hello", "Bonjour", "Hallo", "Hola", "Ciao", "Olá", "Hallo"),
    ("Good night", "Bonne nuit", "Gute Nacht", "Buenas noches", "Buona notte", "Boa noite", "Goede nacht"),
    ("Thank you", "Merci", "Danke", "Gracias", "Grazie", "Obrigado", "Dank je"),
    ("Thank you very much", "Merci beaucoup", "Vielen Dank", "Muchas gracias", "Grazie mille",
     "Muito obrigado", "Heel erg bedankt"),
    ("Goodbye", "Au revoir", "Auf Wiedersehen", "Adiós", "Arrivederci", "Adeus", "Tot ziens"),
    ("Please", "S'il vous plaît", "Bitte", "Por favor", "Per favore", "Por favor", "Alstublieft"),
    ("Yes", "Oui", "Ja", "Sí", "Sì", "Sim", "Ja"),
    ("No", "Non", "Nein", "No", "No", "Não", "Nee"),
    ("See you tomorrow", "À demain", "Bis morgen", "Hasta mañana", "A domani", "Até amanhã", "Tot morgen"),
    ("How are you?", "Comment allez-vous ?", "Wie geht es dir?", "¿Cómo estás?", "Come stai?", "Como vai?",
     "Hoe gaat het?"),
    ("Excuse me", "Excusez-moi", "Entschuldigung", "Perdón", "Scusi", "Com licença", "Pardon"),
    ("Welcome", "Bienvenue", "Willkommen", "Bienvenido", "Benvenuto", "Bem-vindo", "Welkom"),
]


def phrase_table() -> list[dict[str, str]]:
    """Every phrase as {"en": ..., "fr": ..., ...}."""
    rows = list(NUMBERS) + list(DAYS) + list(COLOURS) + list(PHRASES) + [EURO_ONE]
    for number in NUMBERS[2:13]:
        rows.append(tuple(f"{word} {noun}" for word, noun in zip(number, EURO_NOUN)))
    return [dict(zip(("en",) + LANGS, row)) for row in rows]


def client_id(lang: str, variant: str) -> str:
    """A fake Common Voice speaker hash, one per language and espeak-ng voice variant."""
    return hashlib.sha512(f"mini_st-{lang}-{variant}".encode()).hexdigest()


def synthesize(text: str, voice: str, speed: int, pitch: int, amplitude: int, workdir: Path) -> np.ndarray:
    """espeak-ng speech for ``text``, silence trimmed to 0.15 s each side, resampled to 48 kHz, float32."""
    wav = workdir / "utt.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude),
                    "-w", str(wav), text], check=True, capture_output=True)
    audio, rate = sf.read(wav, dtype="float32")
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    pad = int(0.15 * rate)
    audio = audio[max(loud[0] - pad, 0):loud[-1] + pad]
    return torchaudio.functional.resample(torch.from_numpy(audio), rate, SAMPLE_RATE).numpy()


def plan_split(phrases: list[dict[str, str]], split: str, size: int, rng: random.Random) -> list[dict[str, str]]:
    """Train cycles through every phrase (shuffled); dev and test draw phrases without repetition."""
    if split == "train":
        order: list[dict[str, str]] = []
        while len(order) < size:
            order.extend(rng.sample(phrases, len(phrases)))
        return order[:size]
    return rng.sample(phrases, min(size, len(phrases)))


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A tab-separated file quoted like CoVoST-2 / Common Voice (no quoting, backslash escape)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def build_language(lang: str, sizes: dict[str, int], out: Path, rng: random.Random, clip_base: int,
                   workdir: Path) -> int:
    """Synthesise one source language; returns the number of clips written."""
    phrases = phrase_table()
    clips = out / "commonvoice" / lang / "clips"
    clips.mkdir(parents=True)
    covost_rows, validated_rows, seen = [], [], set()
    ages = {variant: rng.choice(("twenties", "thirties", "fourties", "fifties")) for variant in VARIANTS}
    plan = [(split, phrase) for split in SPLITS for phrase in plan_split(phrases, split, sizes[split], rng)]
    for number, (split, phrase) in enumerate(tqdm(plan, desc=lang, leave=False), start=clip_base):
        while True:
            variant = rng.choice(VARIANTS)
            speed, pitch, amplitude = rng.randint(140, 190), rng.randint(30, 70), rng.randint(70, 130)
            if (phrase["en"], variant, speed, pitch) not in seen:
                seen.add((phrase["en"], variant, speed, pitch))
                break
        name = f"common_voice_{lang}_{number}.mp3"
        audio = synthesize(phrase[lang], f"{ESPEAK_VOICES[lang]}+{variant}", speed, pitch, amplitude, workdir)
        sf.write(clips / name, audio, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III",
                 compression_level=MP3_COMPRESSION, bitrate_mode="CONSTANT")
        speaker = client_id(lang, variant)
        covost_rows.append([name, phrase[lang], phrase["en"], speaker, split])
        gender = "female" if variant.startswith("f") else "male"
        validated_rows.append([speaker, name, phrase[lang], "2", "0", ages[variant], gender, ""])
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
    parser.add_argument("--n_train", type=int, default=120)
    parser.add_argument("--n_dev", type=int, default=20)
    parser.add_argument("--n_test", type=int, default=30)
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
    with tempfile.TemporaryDirectory() as tmp:
        for index, lang in enumerate(args.langs):
            rng = random.Random(f"{args.seed}-{lang}")
            count = build_language(lang, sizes, out, rng, 19000000 + 100000 * index, Path(tmp))
            logging.info("%s: %d clips", lang, count)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    english = {word for phrase in phrase_table() for word in phrase["en"].replace("?", "").split()}
    logging.info("%s: %d phrases, %d English words, %.2f MB in all", out, len(phrase_table()), len(english),
                 total / 1e6)


if __name__ == "__main__":
    main()

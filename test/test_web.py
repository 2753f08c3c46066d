"""The web page (sst.bin.serve): what it answers per request, and the page itself driven in headless Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import gradio as gr
import numpy as np
import pytest
import srt
import webvtt
from huggingface_hub import ModelCard

from sst.data.audio import load_resampled, write_flac
from sst.demo.make_long_recording import join_clips
from sst.inference.translator import Translator
from sst.inference.vad import SAMPLE_RATE, VadConfig
from sst.inference.web import TranslationPage, card_languages
from sst.testing.corpora import MINI_ST_CORPUS, REPO
from sst.testing.tiny_models import packed_repeating_model

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def model_dir(tiny_wav2vec2: Path, tiny_mbart: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full package whose decoder says one word over and over, so every translation is readable text."""
    return packed_repeating_model(tmp_path_factory.mktemp("web") / "st_exp", tiny_wav2vec2, tiny_mbart)


@pytest.fixture(scope="module")
def translator(model_dir: Path) -> Translator:
    return Translator.from_pretrained(model_dir, max_length=6)


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    return sorted(MINI_ST_CORPUS.glob("commonvoice/fr/clips/*.mp3"))[:3]


@pytest.fixture()
def page(translator: Translator, tmp_path: Path) -> TranslationPage:
    return TranslationPage(translator, VadConfig(max_segment=4.0), tmp_path)


def test_a_short_clip_is_translated_whole_without_subtitles(page: TranslationPage, translator: Translator,
                                                            clips: list[Path]) -> None:
    text, subtitles = page.translate(str(clips[0]), "en")
    assert text == translator.translate([clips[0]], tgt_lang="en")[0]
    assert subtitles is None


def test_a_long_recording_gets_srt_and_vtt_of_its_segments(page: TranslationPage, translator: Translator,
                                                           clips: list[Path], tmp_path: Path) -> None:
    waveform, _ = join_clips([load_resampled(path, SAMPLE_RATE) for path in clips], np.random.default_rng(0))
    recording = tmp_path / "talk.flac"
    write_flac(recording, waveform, SAMPLE_RATE)
    segments = translator.translate_long(recording, tgt_lang="en", vad=page.vad)
    text, subtitles = page.translate(str(recording), "en")
    assert len(segments) >= len(clips)
    assert text == " ".join(segment.text for segment in segments if segment.text)
    srt_file, vtt_file = (Path(name) for name in subtitles)
    assert (srt_file.name, vtt_file.name) == ("talk.srt", "talk.vtt")
    cues = list(srt.parse(srt_file.read_text(encoding="utf-8")))
    assert [cue.content for cue in cues] == [segment.text for segment in segments]
    assert [cue.start.total_seconds() for cue in cues] == pytest.approx([segment.start for segment in segments],
                                                                        abs=1e-3)
    assert all(segment.text for segment in segments)
    assert [caption.text for caption in webvtt.read(str(vtt_file))] == [segment.text for segment in segments]


def test_an_unreadable_or_missing_upload_is_one_line(page: TranslationPage, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not really audio")
    with pytest.raises(gr.Error) as error:
        page.translate(str(broken), "en")
    assert "broken.wav" in error.value.message and "\n" not in error.value.message
    with pytest.raises(gr.Error, match="no audio"):
        page.translate(None, "en")


def test_the_target_languages_come_from_the_model_card(model_dir: Path, tmp_path: Path) -> None:
    packed = model_dir / "packed"
    assert card_languages(packed) == ModelCard.load(packed / "README.md").data.language
    assert card_languages(tmp_path) == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def server(model_dir: Path, tmp_path: Path) -> Iterator[str]:
    """``python -m sst.bin.serve`` on a free local port, as a user starts it; its address."""
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "sst.bin.serve", "--model_dir", str(model_dir), "--port",
                                str(port), "--max_length", "6"], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 180
    try:
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not start listening in 180 s"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture()
def browser() -> Iterator[object]:
    """Headless Chromium (Debian's, installed by tools/test.sh) driven through its ChromeDriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM.is_file() and CHROMEDRIVER.is_file(), \
        "the browser test needs Debian's chromium and chromium-driver: tools/test.sh installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def upload(driver, path: Path) -> None:
    """Put a file into the page's audio input and wait until the page shows it as loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#speech input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#speech input[type=file]").send_keys(str(path))
    WebDriverWait(driver, 60).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#speech input[type=file]"))


@pytest.mark.slow
def test_the_page_translates_an_uploaded_clip_in_a_browser(server: str, browser, translator: Translator,
                                                          clips: list[Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = translator.translate([clips[0]], tgt_lang="en")[0]
    assert expected
    browser.get(server)
    upload(browser, clips[0])
    browser.find_element(By.CSS_SELECTOR, "#translate").click()
    shown = WebDriverWait(browser, 120).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#translation textarea").get_attribute("value"))
    assert shown == expected

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not really audio")
    browser.get(server)
    upload(browser, broken)
    browser.find_element(By.CSS_SELECTOR, "#translate").click()
    WebDriverWait(browser, 120).until(lambda d: "broken.wav" in d.find_element(By.TAG_NAME, "body").text)
    assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text

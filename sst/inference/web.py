"""A web page over one loaded Translator: upload or record speech, pick the target, read the translation.

Built with Gradio (the interface this field's demos use). One model is loaded once and requests are queued
and served one at a time (a second decode beside the first would only share the same cores). Inputs up to
``--vad_max_segment`` seconds are translated whole, as stage 5 does; longer ones go the long-form way
(silero-vad segments) and the page also offers the subtitles as SRT and VTT files. An unreadable or silent
upload is answered on the page with its one-line error.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
from huggingface_hub import ModelCard

from sst.data.audio import AudioDecodeError, audio_duration
from sst.inference.longform import NoSpeech, Segment
from sst.inference.translator import Translator
from sst.inference.vad import VadConfig
from sst.inference.writers import SUFFIXES, TranscriptWriter
from sst.models.model_card import CARD

SUBTITLE_FORMATS = ("srt", "vtt")


def card_languages(package: Path) -> list[str]:
    """The languages a package's model card lists (its front matter's ``language``), [] without a card."""
    card = package / CARD
    if not card.is_file():
        return []
    language = ModelCard.load(card).data.language
    return [language] if isinstance(language, str) else list(language or [])


def write_subtitles(segments: Sequence[Segment], name: str, out_dir: Path) -> list[Path]:
    """The segments as ``<name>.srt`` and ``<name>.vtt`` in ``out_dir``; their paths."""
    paths = []
    for fmt in SUBTITLE_FORMATS:
        path = out_dir / f"{name}{SUFFIXES[fmt]}"
        with open(path, "w", encoding="utf-8") as stream:
            writer = TranscriptWriter(stream, fmt, name)
            for segment in segments:
                writer.write(segment.start, segment.end, segment.text)
            writer.close()
        paths.append(path)
    return paths


class TranslationPage:
    """What the page does with one request, apart from Gradio (so it can be called and tested directly)."""

    def __init__(self, translator: Translator, vad: VadConfig, out_root: Path) -> None:
        self.translator, self.vad, self.out_root = translator, vad, out_root

    def translate(self, audio_path: str | None, tgt_lang: str) -> tuple[str, list[str] | None]:
        """The translation of an uploaded or recorded file, and its subtitle files when it was long."""
        if not audio_path:
            raise gr.Error("no audio: upload a file or record from the microphone first", print_exception=False)
        path = Path(audio_path)
        try:
            duration = audio_duration(path)
            if duration is not None and duration <= self.vad.max_segment:
                return self.translator.translate([path], tgt_lang=tgt_lang)[0], None
            segments = self.translator.translate_long(path, tgt_lang=tgt_lang, vad=self.vad)
        except (AudioDecodeError, NoSpeech) as error:
            raise gr.Error(str(error), print_exception=False) from None
        out_dir = Path(tempfile.mkdtemp(prefix="subtitles_", dir=self.out_root))
        files = write_subtitles(segments, path.stem, out_dir)
        return " ".join(segment.text for segment in segments if segment.text), [str(file) for file in files]


def build_app(page: TranslationPage, languages: Sequence[str], default_lang: str, title: str) -> gr.Blocks:
    """The Gradio page: audio (upload or microphone) and target language in, translation and subtitles out."""
    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\nSpeech translation with sst. Upload a recording (any length, any format "
                    "FFmpeg reads) or record one, choose the target language and press Translate.")
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech",
                                 elem_id="speech")
                target = gr.Dropdown(list(languages), value=default_lang, label="Target language",
                                     allow_custom_value=True, elem_id="target")
                button = gr.Button("Translate", variant="primary", elem_id="translate")
            with gr.Column():
                translation = gr.Textbox(label="Translation", lines=6, elem_id="translation")
                subtitles = gr.File(label="Subtitles (long input): SRT and VTT", file_count="multiple",
                                    elem_id="subtitles")
        button.click(page.translate, [audio, target], [translation, subtitles], api_name="translate")
    app.queue(default_concurrency_limit=1)
    return app

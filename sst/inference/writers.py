"""Writers of translated segments as they come: a transcript line, srt / vtt subtitles, or JSON Lines."""
from __future__ import annotations

import datetime
import io
import json

import srt
import webvtt
from webvtt.models import Timestamp
from webvtt.vtt import WebVTTCueBlock

FORMATS = ("text", "srt", "vtt", "json")
SUFFIXES = {"text": ".txt", "srt": ".srt", "vtt": ".vtt", "json": ".json"}


class TranscriptWriter:
    """Writes one recording's translated segments as they come, in one of :data:`FORMATS`:

    ``text``: one ``<name><TAB><translation of the whole recording>`` line (written at :meth:`close`);
    ``srt`` / ``vtt``: one cue per segment (srt / webvtt-py); ``json``: JSON Lines, one
    ``{"audio", "start", "end", "text"}`` object per segment (seconds).
    """

    def __init__(self, stream: io.TextIOBase, fmt: str, name: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; known: {', '.join(FORMATS)}")
        self.stream, self.format, self.name = stream, fmt, name
        self.count = 0
        self.texts: list[str] = []
        if fmt == "vtt":
            stream.write("WEBVTT\n")

    def write(self, start: float, end: float, text: str) -> None:
        """One translated segment (start/end in seconds from the start of the recording)."""
        self.count += 1
        if self.format == "text":
            self.texts.append(text)
            return
        if self.format == "srt":
            self.stream.write(srt.Subtitle(self.count, datetime.timedelta(seconds=start),
                                           datetime.timedelta(seconds=end), text).to_srt())
        elif self.format == "vtt":
            caption = webvtt.Caption(str(Timestamp.from_seconds(start)), str(Timestamp.from_seconds(end)), text)
            self.stream.write("\n".join(WebVTTCueBlock.format_lines(caption)) + "\n")
        else:
            self.stream.write(json.dumps({"audio": self.name, "start": round(start, 3), "end": round(end, 3),
                                          "text": text}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Finish the recording (the ``text`` line is written now)."""
        if self.format == "text":
            self.stream.write(f"{self.name}\t{' '.join(t for t in self.texts if t)}\n")
        self.stream.flush()

"""Corpus readers, Kaldi-style data directories and audio decoding (recipe stages 1-2)."""

"""Evaluation: sacreBLEU scoring of decode dirs (stage 6) and SAMU speech/text retrieval."""

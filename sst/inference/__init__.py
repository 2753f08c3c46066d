"""Inference as a library: what stage 5, ``sst.bin.translate`` and ``sst.bin.longform_decode`` run.

- :mod:`sst.inference.batching`: length-sorted batches of bounded padded size, read batch by batch;
- :mod:`sst.inference.options`: the decoding settings (defaults, decoding YAML, command-line overrides);
- :mod:`sst.inference.beam_search`: the beam-search driver over batches or in-memory audio;
- :mod:`sst.inference.dump_decoding`: stage 5, several dump dirs decoded in shards, resumable;
- :mod:`sst.inference.vad` and :mod:`sst.inference.writers`: long-form segmentation and subtitle writers;
- :mod:`sst.inference.longform`: recordings of any length translated segment by segment, and decode
  dirs of whole recordings re-segmented to their references;
- :mod:`sst.inference.translator`: ``sst.Translator``, a package as a Python object (files, waveforms and
  long recordings translated through the above); ``sst.bin.translate`` is a command over it.
"""

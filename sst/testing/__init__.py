"""Fixtures shared by the tests (test/), the benchmarks (tools/bench/) and the mini_st demo.

``corpora``: tiny corpora in the real CoVoST-2 / Common Voice / Europarl-ST layouts and what stages 1-2
must make of them; ``faults``: the bad-input corpus and what each fault must yield; ``tiny_models``: tiny
stand-ins for XLS-R, LaBSE and mBART-50 that load like the real checkpoints, and small packed ST models
built over them; ``decode_dirs``: stage-5 output for the scoring tests; ``sentences``: real sentences in
seven languages, parallel. Nothing here is a model a user trains (those are in ``sst.models``).
"""

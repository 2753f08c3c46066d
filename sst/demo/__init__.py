"""The mini_st demo's own pieces: tiny stand-ins for XLS-R, LaBSE and mBART-50 fitted to its corpus.

Nothing here is a model a user trains (those are in ``sst.models``); ``python -m sst.demo.make_tiny_models``
is the demo recipe's stage 0.
"""

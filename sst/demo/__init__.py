"""The mini_st demo recipe's own commands: ``python -m sst.demo.make_tiny_models`` (stage 0: tiny stand-ins
for XLS-R, LaBSE and mBART-50 fitted to its corpus, built by ``sst.testing.tiny_models``) and
``python -m sst.demo.make_long_recording`` (stage 1: test sets joined into long recordings).

Nothing here is a model a user trains (those are in ``sst.models``).
"""

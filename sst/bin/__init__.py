"""Entry points, one per recipe step: ``python -m sst.bin.<name>``."""

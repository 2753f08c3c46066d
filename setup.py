"""sst: SAMU-XLS-R distillation and adapter-based speech translation, in recipe style."""
from setuptools import find_packages, setup

# The stack is pinned: these versions were resolved together on Python 3.11 with pip 24
# (espnet 202511 caps setuptools below 74, which newer torch releases cannot live with).
INSTALL_REQUIRES = [
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "espnet==202511",
    "transformers==5.23.0",
    "sentence-transformers==6.2.0",
    "sentencepiece==0.2.0",
    "sacrebleu==2.6.0",
    "typeguard==4.6.0",
    "soundfile==0.14.0",
    "av==18.1.0",
    "kaldiio==2.18.1",
    "silero-vad==6.2.3",  # long-form segmentation; its wheel ships the model (JIT, run with torch)
    "mweralign==1.4.1",  # IWSLT-style minimum-WER re-segmentation of long-form hypotheses
    "py3langid==0.4.0",  # language identification of hypotheses (off-target rates); its wheel ships the model
    "srt==3.5.3",
    "webvtt-py==0.6.0",
    "tensorboard==2.21.0",
    "matplotlib==3.11.2",
    "gradio==6.31.0",  # the web page (sst.bin.serve)
    "tqdm",
    "PyYAML",
    "tabulate",
]

setup(
    name="sst",
    version="0.1.0",
    description="Speech translation with SAMU-XLS-R encoders and mBART-50 decoders, with adapters",
    packages=find_packages(include=["sst", "sst.*"]),
    # The real checkpoints' architectures (config files only), read by sst.models.architectures.
    package_data={"sst.models": ["configs/*/*/*.json", "configs/*/*/*/*.json", "configs/README.md"]},
    python_requires=">=3.10,<3.12",
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest==9.2.0", "selenium==4.51.0"]},  # selenium: the web page's browser test
)

"""--plot_every_epochs (sst.tasks.trainer): the training curves are drawn after every N-th epoch and after
the last, or after the last only (0); ESPnet draws them after every epoch (1, the default)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from espnet2.train.reporter import Reporter

from sst.bin import samu_train

TRAINING = {"batch_type": "unsorted", "batch_size": 2, "accum_grad": 1, "max_epoch": 5, "patience": None,
            "num_workers": 0, "num_att_plot": 0, "log_interval": 1, "use_tensorboard": False,
            "use_matplotlib": True, "grad_clip": 5.0, "seed": 0, "keep_nbest_models": 1, "optim": "adam",
            "optim_conf": {"lr": 0.005}, "best_model_criterion": [["valid", "loss", "min"]],
            "model_conf": {"pooling_dim": 16, "freeze": [], "mask_time_prob": 0.0, "layerdrop": 0.0}}


@pytest.mark.slow
@pytest.mark.parametrize(("every", "drawn"), [(None, [1, 2, 3, 4, 5]), (2, [2, 4, 5]), (0, [5])])
def test_curves_are_drawn_after_every_nth_epoch_and_the_last(
        every: int | None, drawn: list[int], st_dumps: Path, tiny_wav2vec2: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    epochs = []
    monkeypatch.setattr(Reporter, "matplotlib_plot", lambda self, output_dir: epochs.append(self.get_epoch()))
    config = tmp_path / "samu.yaml"
    config.write_text(yaml.safe_dump({**TRAINING, **({} if every is None else {"plot_every_epochs": every})}))
    samu_train.main(["--config", str(config), "--train_dump", str(st_dumps / "train_multi"), "--valid_dump",
                     str(st_dumps / "dev_fr_en"), "--output_dir", str(tmp_path / "exp"), "--encoder_model",
                     str(tiny_wav2vec2)])
    assert (tmp_path / "exp" / "5epoch.pth").is_file()
    assert epochs == drawn

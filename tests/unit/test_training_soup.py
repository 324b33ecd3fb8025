"""The model soup (models/training/soup.py): a candidate model may be the mean of several fine-
tunes, so the mean must be exact, loadable like any weights file, traceable to its ingredients,
and refuse weights of another network instead of averaging nonsense."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "training"))
from soup import soup  # noqa: E402
from train_lesion_unet import fp16_state  # noqa: E402

from viewer.inference.loading import sha256_of  # noqa: E402
from viewer.inference.network import UNet3D  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _weights(seed: int, widths: tuple[int, ...] = (4, 8, 8, 8)) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return fp16_state(UNet3D(2, 4, widths=widths))


def test_soup_is_the_tensor_by_tensor_mean_in_the_ingredients_dtype() -> None:
    a, b, c = _weights(0), _weights(1), _weights(2)
    mixed = soup([a, b, c])
    assert mixed.keys() == a.keys()
    for name, tensor in mixed.items():
        want = ((a[name].double() + b[name].double() + c[name].double()) / 3).to(torch.float16)
        assert tensor.dtype == torch.float16 and tensor.shape == a[name].shape
        assert torch.equal(tensor, want), name  # to the bit: a mean taken in fp16 rounds differently
    assert all(torch.equal(soup([a])[k], a[k]) for k in a)  # one ingredient: unchanged


def test_soup_refuses_weights_of_another_network() -> None:
    with pytest.raises(ValueError, match="is .* weights 1 have"):
        soup([_weights(0), _weights(1, widths=(4, 8, 8, 16))])
    fewer = dict(_weights(1))
    fewer.pop(next(iter(fewer)))
    with pytest.raises(ValueError, match="other tensors"):
        soup([_weights(0), fewer])
    with pytest.raises(ValueError, match="float32, weights 1 have .*float16"):
        soup([_weights(0), {k: v.float() for k, v in _weights(1).items()}])
    with pytest.raises(ValueError, match="not floating point"):
        soup([{**_weights(0), "steps": torch.tensor(3)}, {**_weights(1), "steps": torch.tensor(4)}])
    with pytest.raises(ValueError, match="at least one"):
        soup([])


def test_soup_command_writes_loadable_weights_and_names_its_ingredients(tmp_path: Path) -> None:
    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"run{seed}" / "weights.pt")
        paths[-1].parent.mkdir()
        torch.save(_weights(seed), paths[-1])
    out = tmp_path / "soup"
    subprocess.run([sys.executable, str(ROOT / "models" / "training" / "soup.py"), "--out", str(out),
                    *map(str, paths)], check=True, capture_output=True, cwd=ROOT)
    state = torch.load(out / "weights.pt", weights_only=True)  # tensors only, no pickled code
    net = UNet3D(2, 4, widths=(4, 8, 8, 8))
    net.load_state_dict({k: v.float() for k, v in state.items()})
    record = json.loads((out / "soup.json").read_text())
    assert [i["sha256"] for i in record["ingredients"]] == [sha256_of(p) for p in paths]
    assert record["weights_sha256"] == sha256_of(out / "weights.pt")


def test_soup_command_refuses_runs_whose_training_records_disagree_on_the_architecture(tmp_path: Path) -> None:
    """Weights of one shape can still compute different things: a smoothed input at gain 10 and
    at gain 1. Their mean would be neither network, so the command refuses and writes nothing."""
    paths = []
    for seed, gain in ((0, 1.0), (1, 10.0)):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"run{seed}" / "weights.pt")
        paths[-1].parent.mkdir()
        torch.save(fp16_state(UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=gain)), paths[-1])
        (paths[-1].parent / "training.json").write_text(json.dumps({"architecture": {
            "smooth_channels": [1], "smooth_gain": gain}}))
    out = tmp_path / "soup"
    done = subprocess.run([sys.executable, str(ROOT / "models" / "training" / "soup.py"), "--out", str(out),
                           *map(str, paths)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and "different architectures" in done.stderr
    assert not out.exists()


def test_soup_of_smoothed_input_runs_records_their_architecture_for_evaluation(tmp_path: Path) -> None:
    """A soup of runs with a smoothed input (gain 30) must be calibrated as that network: read as
    the default two-channel one, its third input's weights would be dropped or misread."""
    sys.path.insert(0, str(ROOT / "models" / "training"))
    from lesion_data import DEFAULT_ARCHITECTURE, recorded_architecture

    arch = {"name": "unet3d", "smooth_channels": [1], "smooth_sigma_vox": [0.7, 2.0, 2.0], "smooth_gain": 30.0}
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"run{seed}" / "weights.pt")
        paths[-1].parent.mkdir()
        torch.save(fp16_state(UNet3D(2, 4, widths=(4, 8, 8, 8), smooth_channels=(1,), smooth_gain=30.0)), paths[-1])
        (paths[-1].parent / "training.json").write_text(json.dumps({"architecture": arch}))
    out = tmp_path / "soup"
    subprocess.run([sys.executable, str(ROOT / "models" / "training" / "soup.py"), "--out", str(out),
                    *map(str, paths)], check=True, capture_output=True, cwd=ROOT)
    full = {**DEFAULT_ARCHITECTURE, **arch}
    assert json.loads((out / "soup.json").read_text())["architecture"] == full
    assert recorded_architecture(out) == full  # what evaluate.py builds the network from


def test_soup_of_the_shipped_weights_and_a_run_of_the_same_network_is_accepted(tmp_path: Path) -> None:
    """The shipped folder's manifest.json spells out the widths a run's training.json leaves at their
    default: the same network, so the soup is made (it was refused on the raw records)."""
    paths = []
    for seed, name, record in ((0, "manifest.json", {"architecture": {"name": "unet3d", "in_channels": 2,
                                                                       "out_channels": 4, "widths": [16, 32, 64, 128]}}),
                               (1, "training.json", {"architecture": {"name": "unet3d"}})):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"run{seed}" / "weights.pt")
        paths[-1].parent.mkdir()
        torch.save(fp16_state(UNet3D(2, 4)), paths[-1])
        (paths[-1].parent / name).write_text(json.dumps(record))
    out = tmp_path / "soup"
    subprocess.run([sys.executable, str(ROOT / "models" / "training" / "soup.py"), "--out", str(out),
                    *map(str, paths)], check=True, capture_output=True, cwd=ROOT)
    assert json.loads((out / "soup.json").read_text())["architecture"]["widths"] == [16, 32, 64, 128]


def test_soup_refuses_to_write_into_a_run_folder(tmp_path: Path) -> None:
    """A run's training.json is read before soup.json: a soup written beside it would be built as
    that run's network, so the command refuses and overwrites nothing."""
    paths = []
    for seed in (0, 1):
        paths.append(tmp_path / f"run{seed}" / "weights.pt")
        paths[-1].parent.mkdir()
        torch.save(_weights(seed), paths[-1])
    (paths[0].parent / "training.json").write_text(json.dumps({"architecture": {"name": "unet3d"}}))
    before = paths[0].read_bytes()
    done = subprocess.run([sys.executable, str(ROOT / "models" / "training" / "soup.py"), "--out",
                           str(paths[0].parent), *map(str, paths)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "folder of its own" in done.stderr
    assert paths[0].read_bytes() == before and not (paths[0].parent / "soup.json").exists()

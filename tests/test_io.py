import json

import pytest
import torch
from safetensors.torch import load_file, safe_open

from klvae._io import atomic_save_safetensors, atomic_write_json


def test_json_round_trip_leaves_no_temporary(tmp_path):
    p = atomic_write_json(tmp_path / "a" / "m.json", {"x": 1})
    assert json.loads(p.read_text()) == {"x": 1}
    assert [q.name for q in p.parent.iterdir()] == ["m.json"]


def test_safetensors_round_trip_with_metadata(tmp_path):
    t = {"w": torch.arange(6.0).reshape(2, 3)}
    p = atomic_save_safetensors(t, tmp_path / "w.safetensors", metadata={"step": "7"})
    assert torch.equal(load_file(p)["w"], t["w"])
    with safe_open(p, "pt") as f:
        assert f.metadata() == {"step": "7"}


def test_failed_write_keeps_the_old_file(tmp_path):
    p = atomic_write_json(tmp_path / "m.json", {"old": True})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"bad": object()})  # not JSON-serialisable: fails before the rename
    assert json.loads(p.read_text()) == {"old": True}
    assert len(list(tmp_path.iterdir())) == 1


def test_written_files_get_the_umask_mode_not_0600(tmp_path):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    p = atomic_write_json(tmp_path / "m.json", {})
    q = atomic_save_safetensors({"w": torch.zeros(1)}, tmp_path / "w.safetensors")
    for f in (p, q):
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask

import json
from pathlib import Path

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


def test_importing_changes_no_process_state(monkeypatch):
    import importlib
    import os

    import klvae._io

    def refuse(mask):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", refuse)
    importlib.reload(klvae._io)  # would fail if the import set the umask


def test_the_umask_is_read_without_changing_it(tmp_path):
    import os

    from klvae._io import _umask

    old = os.umask(0o027)
    try:
        assert _umask() == 0o027
        p = atomic_write_json(tmp_path / "m.json", {})
        assert p.stat().st_mode & 0o777 == 0o640
        assert os.umask(0o027) == 0o027  # unchanged by the write
    finally:
        os.umask(old)


def test_full_disk_is_an_oserror_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from safetensors import SafetensorError

    import klvae._io

    old = atomic_save_safetensors({"w": torch.zeros(2)}, tmp_path / "w.safetensors")
    before = old.read_bytes()

    def full(*args, **kwargs):
        raise SafetensorError(
            'Error while serializing: I/O error: No space left on device (os error 28) at path "/x/.tmpAbC123"'
        )

    monkeypatch.setattr(klvae._io, "save_file", full)
    with pytest.raises(OSError, match=r"No space left on device.*w\.safetensors") as info:
        atomic_save_safetensors({"w": torch.ones(2)}, tmp_path / "w.safetensors")
    assert info.value.errno == errno.ENOSPC and info.value.filename.endswith("w.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    assert old.read_bytes() == before


def test_remove_stale_temporaries_removes_only_the_writers_temporaries(tmp_path):
    from klvae._io import remove_stale_temporaries

    stale = [".model.safetensors.a1b2_c3d.tmp", ".metrics.json.zz99yy88.tmp", ".tmpQ1w2E3"]
    kept = [
        "model.safetensors",
        "notes.tmp",
        ".model.safetensors.short.tmp",
        ".hidden",
        ".metrics.json.ABCDEFGH.tmp",
        "x.json.a1b2c3d4.tmp",
        ".tmpQ1w2E3x",
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / ".dir.a1b2c3d4.tmp").mkdir()  # a folder is never removed
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [".dir.a1b2c3d4.tmp"])
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_a_killed_write_leaves_a_temporary_the_cleaner_recognises(tmp_path, monkeypatch):
    import os

    from klvae._io import _replacing, remove_stale_temporaries

    def killed(src, dst):  # what a kill -9 before the rename leaves: the temporary, nothing else
        raise SystemExit

    with pytest.raises(SystemExit):
        with monkeypatch.context() as m:
            m.setattr(os, "unlink", lambda *a, **k: None)  # no clean-up either, as after kill -9
            m.setattr(os, "replace", killed)
            with _replacing(tmp_path / "m.json") as tmp:
                Path(tmp).write_text("{}")
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.startswith(".m.json.")
    assert remove_stale_temporaries(tmp_path) == left and not any(tmp_path.iterdir())

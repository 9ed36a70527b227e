"""Finished chunks on disk: gaps, concatenation across chunk sizes, atomic files, and refusing another run's."""

import numpy as np
import pytest

from multipower.runs.chunkstore import ChunkStore


def test_gaps_reuse_and_concatenation(tmp_path):
    store = ChunkStore(tmp_path, {"seed": 0})
    x = np.arange(20.0)[:, None]
    store.save(0, 4, x=x[0:4])
    store.save(8, 12, x=x[8:12])
    assert store.missing(10) == [(4, 8)]
    assert store.missing(16) == [(4, 8), (12, 16)]
    assert store.done(16) == 8
    store.save(4, 6, x=x[4:6])  # another chunk size
    store.save(6, 8, x=x[6:8])
    again = ChunkStore(tmp_path, {"seed": 0})
    assert again.missing(12) == []
    assert np.array_equal(again.load(10)["x"], x[:10])
    assert np.array_equal(again.load(12)["x"], x[:12])
    with pytest.raises(ValueError, match="samples 12..15 are not finished"):
        again.load(16)
    assert not list(tmp_path.glob("chunks/.*"))  # no temporary files left


def test_another_run_is_refused_unless_restarted(tmp_path):
    ChunkStore(tmp_path, {"seed": 0, "gamma_H": 0.6}).save(0, 2, x=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="--out: .* holds finished chunks of another run \\(differs in gamma_H\\)"):
        ChunkStore(tmp_path, {"seed": 0, "gamma_H": 0.9})
    fresh = ChunkStore(tmp_path, {"seed": 0, "gamma_H": 0.9}, restart=True)
    assert fresh.ranges() == []


def test_corrupt_key_names_the_file(tmp_path):
    ChunkStore(tmp_path, {"seed": 0})
    (tmp_path / "chunks" / "key.json").write_text("{not json")
    with pytest.raises(ValueError, match="key.json: not valid JSON"):
        ChunkStore(tmp_path, {"seed": 0})

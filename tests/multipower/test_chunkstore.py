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


def _store_with_pieces(tmp_path, key=None):
    store = ChunkStore(tmp_path, key or {"seed": 0})
    for a in range(0, 6, 2):
        store.save(a, a + 2, x=np.arange(a, a + 2, dtype=float)[:, None])
    return store


@pytest.mark.parametrize("spoil", ["foreign", "truncated", "random", "empty", "nan", "renamed", "old", "edited"])
def test_a_piece_that_fails_verification_is_set_aside_and_recomputed(tmp_path, capsys, spoil):
    """A chunk of another run, a damaged file, NaN, a chunk under another range's name, or one written before
    pieces were verified: one warning line naming it, never merged, never blocking."""
    store = _store_with_pieces(tmp_path / "run")
    target = store.path / "0000002-0000004.npz"
    if spoil == "foreign":  # the same range from a run with another seed, copied in
        other = _store_with_pieces(tmp_path / "other", {"seed": 9})
        target.write_bytes((other.path / target.name).read_bytes())
    elif spoil == "truncated":
        target.write_bytes(target.read_bytes()[:40])
    elif spoil == "random":
        target.write_bytes(np.random.default_rng(0).bytes(500))
    elif spoil == "empty":
        target.write_bytes(b"")
    elif spoil == "nan":
        np.savez_compressed(target, x=np.full((2, 1), np.nan), __key__=np.array(store.digest),
                            __range__=np.array([2, 4]), __checksum__=np.array("x"))
    elif spoil == "renamed":
        target.write_bytes((store.path / "0000004-0000006.npz").read_bytes())
    elif spoil == "old":
        np.savez_compressed(target, x=np.arange(2.0, 4.0)[:, None])
    elif spoil == "edited":
        with np.load(target) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["x"] = arrays["x"] + 1
        np.savez_compressed(target, **arrays)
    again = ChunkStore(tmp_path / "run", {"seed": 0})
    assert again.ranges() == [(0, 2), (4, 6)] and again.missing(6) == [(2, 4)]
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "0000002-0000004.npz" in warnings[0]
    assert (store.path / "0000002-0000004.npz.rejected").exists() and not target.exists()
    again.save(2, 4, x=np.arange(2.0, 4.0)[:, None])
    assert np.array_equal(again.load(6)["x"], np.arange(6.0)[:, None])


def test_pieces_keep_minus_infinity_and_hide_their_own_records(tmp_path):
    store = ChunkStore(tmp_path, {"seed": 0})
    q = np.array([[0.5, -np.inf]])
    store.save(0, 1, q=q)
    assert ChunkStore(tmp_path, {"seed": 0}).ranges() == [(0, 1)]
    assert set(store.read(0, 1)) == {"q"} and np.array_equal(store.read(0, 1)["q"], q)

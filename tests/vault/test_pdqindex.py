import numpy as np
import pytest

from vault.pdqindex import PDQIndex, brute_force, hashes_to_array


def flip(row: np.ndarray, bits, rng) -> np.ndarray:
    row = row.copy()
    for b in rng.choice(256, size=bits, replace=False):
        row[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return row


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    db = rng.integers(0, 2**64 - 1, size=(20_000, 4), dtype=np.uint64, endpoint=True)
    # Plant near copies at known distances around a few rows.
    planted = []
    for i, bits in enumerate([0, 1, 15, 30, 31, 32, 33, 50]):
        db[100 + i] = flip(db[10], bits, rng)
        planted.append((100 + i, bits))
    return db, PDQIndex(db), planted, rng


@pytest.mark.parametrize("threshold", [0, 8, 31])
def test_it_finds_exactly_what_a_full_scan_finds(data, threshold):
    db, index, _, rng = data
    for q in [db[10], *[flip(db[rng.integers(len(db))], k, rng) for k in (0, 5, 20, 31, 40)]]:
        rows, distances = index.search(q, threshold)
        assert sorted(rows.tolist()) == sorted(brute_force(db, q, threshold).tolist())
        assert all(d <= threshold for d in distances)


def test_31_bits_is_found_and_32_is_not(data):
    db, index, planted, _ = data
    rows = set(index.search(db[10], 31)[0].tolist())
    for row, bits in planted:
        assert (row in rows) == (bits <= 31), bits


def test_above_31_bits_it_falls_back_to_the_scan(data):
    db, index, _, _ = data
    rows, _ = index.search(db[10], 40)
    assert sorted(rows.tolist()) == sorted(brute_force(db, db[10], 40).tolist())


def test_batch_search_equals_single_search(data):
    db, index, _, rng = data
    queries = np.stack([flip(db[i], int(rng.integers(0, 35)), rng) for i in range(150)])
    batch = index.search_many(queries, 31)
    assert len(batch) == 150
    for q, found in zip(queries, batch, strict=True):
        assert sorted(found.tolist()) == sorted(index.search(q, 31)[0].tolist())


def test_hex_round_trip_and_empty_index():
    hexes = ["f" * 64, "0" * 63 + "1"]
    arr = hashes_to_array(hexes)
    assert arr.shape == (2, 4) and int(arr[1, 3]) == 1
    rows, _ = PDQIndex(np.empty((0, 4), np.uint64)).search(arr[0], 31)
    assert len(rows) == 0

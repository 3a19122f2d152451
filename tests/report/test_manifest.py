"""Reading a ``glas explain`` output: the contract's columns, and every way a folder can break it."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("PIL")

from glas_adapters.report import load_maps, read_output  # noqa: E402
from glas_core import GLASError  # noqa: E402

from .helpers import SPECS, Spec, make_output  # noqa: E402


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    return make_output(str(tmp_path_factory.mktemp("out")), SPECS)


def test_images_in_manifest_order_with_their_stored_maps(output):
    records = read_output(output)
    assert [r.image_id for r in records] == ["a_top_left", "b_top_right", "c_bottom_left", "d_bottom_right"]
    assert [r.label for r in records] == [0, 3, None, 3]
    c = records[2]
    assert [(row.target, row.sigma, row.iteration) for row in c.rows] == [
        (2, "5,3,6", None), (2, "5,3,6", 1), (2, "5,3,6", 2), (2, "1", None), (2, "1", 1), (2, "1", 2)]
    stored = np.load(os.path.join(output, "maps", "c_bottom_left.npz"))
    maps = load_maps(output, c)
    assert len(maps) == 6
    for row, saliency in zip(c.rows, maps):
        assert saliency.dtype == np.float16 and row.shape == (24, 24)
        np.testing.assert_array_equal(saliency, stored[row.map_key])


def _broken(tmp_path, hook=None, specs=None):
    specs = (Spec("x.png", 0),) if specs is None else specs
    return make_output(str(tmp_path), list(specs), sigmas=("3",), rows_hook=hook)


def _expect(folder, *fragments):
    """The error of reading ``folder`` and every image's maps."""
    with pytest.raises(GLASError) as info:
        for record in read_output(folder):
            load_maps(folder, record)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_not_a_maps_folder(tmp_path):
    _expect(str(tmp_path / "nope"), "'", "check the path")
    _expect(str(tmp_path), "manifest.parquet", "run glas explain first")
    (tmp_path / "f.txt").write_text("x")
    _expect(str(tmp_path / "f.txt"), "pass the folder")


def test_unreadable_manifest(tmp_path):
    folder = _broken(tmp_path)
    with open(os.path.join(folder, "manifest.parquet"), "wb") as fh:
        fh.write(b"not parquet at all")
    _expect(folder, "could not be read", "rerun glas explain")


def test_missing_and_mistyped_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _broken(tmp_path)
    path = os.path.join(folder, "manifest.parquet")
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["sigma", "label"]), path)
    _expect(folder, "sigma, label")
    pq.write_table(table.set_column(table.column_names.index("target"), "target",
                                    pa.array(["0"] * table.num_rows)), path)
    _expect(folder, "'target'", "integer")


def test_all_null_label_and_iteration_columns_are_accepted(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _broken(tmp_path)
    path = os.path.join(folder, "manifest.parquet")
    table = pq.read_table(path)
    for name in ("label", "iteration"):
        table = table.set_column(table.column_names.index(name), name, pa.nulls(table.num_rows))
    pq.write_table(table, path)
    assert [r.label for r in read_output(folder)] == [None]


def test_empty_manifest(tmp_path):
    _expect(_broken(tmp_path, hook=lambda rows: []), "no rows")


def test_null_where_the_contract_has_none(tmp_path):
    def hook(rows):
        rows[1]["class_name"] = None
        return rows
    _expect(_broken(tmp_path, hook), "'class_name'", "null in row 1")


def test_non_finite_clean_score(tmp_path):
    def hook(rows):
        rows[0]["clean_score"] = float("nan")
        return rows
    _expect(_broken(tmp_path, hook), "clean_score nan", "image 'x'")


def test_duplicate_row(tmp_path):
    _expect(_broken(tmp_path, lambda rows: rows + rows[:1]), "a second map for target 0, sigma '3'")


def test_one_image_id_two_paths(tmp_path):
    def hook(rows):
        rows[1]["path"] = "elsewhere.png"
        return rows
    _expect(_broken(tmp_path, hook), "one path and one label per image_id")


def test_map_file_outside_the_folder(tmp_path):
    def hook(rows):
        rows[0]["map_file"] = "../secret.npz"
        return rows
    _expect(_broken(tmp_path, hook), "'../secret.npz'", "inside the maps folder")


def test_missing_map_file_is_refused_before_any_map_is_read(tmp_path):
    folder = _broken(tmp_path, specs=(Spec("x.png", 0), Spec("y.png", 1)))
    os.remove(os.path.join(folder, "maps", "y.npz"))
    with pytest.raises(GLASError, match="y.npz', which does not exist"):
        read_output(folder)


def test_missing_or_corrupt_map_file(tmp_path):
    folder = _broken(tmp_path)
    npz = os.path.join(folder, "maps", "x.npz")
    with open(npz, "wb") as fh:
        fh.write(b"PK\x03\x04 truncated")
    _expect(folder, "could not be read", "delete it and rerun")
    os.remove(npz)
    _expect(folder, "does not exist", "rerun glas explain")


def test_missing_key_and_wrong_shape(tmp_path):
    def bad_key(rows):
        rows[0]["map_key"] = "nothing"
        return rows
    _expect(_broken(tmp_path / "k", bad_key), "'nothing'", "a key of maps/x.npz")

    def bad_shape(rows):
        rows[0]["height"] = 12
        return rows
    _expect(_broken(tmp_path / "s", bad_shape), "shape (24, 24)", "shape (12, 24)")


def test_integer_map_is_refused(tmp_path):
    folder = _broken(tmp_path)
    np.savez(os.path.join(folder, "maps", "x.npz"), **{"t0_s3": np.zeros((24, 24), dtype=np.int32),
                                                       "t1_s3": np.zeros((24, 24), dtype=np.int32)})
    _expect(folder, "int32", "a float map")

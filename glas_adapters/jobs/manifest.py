"""The manifest of an output folder: ``manifest.parquet``, one row per map (columns: :data:`COLUMNS`)."""

from __future__ import annotations

from typing import Any

from glas_core.errors import fail

MANIFEST = "manifest.parquet"

#: The manifest's columns, in order, with their Arrow types (see :mod:`glas_adapters.jobs`).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("image_id", "string"), ("path", "string"), ("target", "int64"), ("class_name", "string"),
    ("clean_score", "float64"), ("sigma", "string"), ("grid", "int64"), ("mode", "string"),
    ("n_forward", "int64"), ("map_file", "string"), ("map_key", "string"), ("height", "int64"),
    ("width", "int64"), ("label", "int64"), ("iteration", "int64"), ("runtime", "string"),
    # detectors and segmenters (null in other rows): see glas_adapters.jobs.objects
    ("object", "int64"), ("box_x1", "float64"), ("box_y1", "float64"), ("box_x2", "float64"),
    ("box_y2", "float64"), ("region_pixels", "int64"), ("mask_key", "string"),
)


def manifest_schema() -> Any:
    """The manifest's pyarrow schema."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS])


def write_parquet(rows: list[dict[str, Any]], handle: Any) -> None:
    """Manifest ``rows`` as a Parquet file written to ``handle``."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise fail("glas explain", "no pyarrow", "run with pyarrow installed (it writes manifest.parquet)",
                   "pip install 'glas-xai[cli]'") from None
    schema = manifest_schema()
    table = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    pq.write_table(table, handle)

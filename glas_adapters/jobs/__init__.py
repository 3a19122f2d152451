"""Explain whole data sets: the job layer under ``glas explain DIR_OR_GLOB --out OUT``, Ray and the report.

The command line (:mod:`glas_adapters.cli`), the Ray engine (:mod:`glas_adapters.ray`) and the
report (:mod:`glas_adapters.report`) import this package; it imports none of them (the model
and, for figures, its image resampling are passed in).

Output folder
-------------
``OUT/manifest.parquet``
    One row per (image, target, sigma) (and per iteration of recursive runs), read with
    ``pandas.read_parquet`` or ``pyarrow.parquet.read_table``. Columns, in order:

    ============= =========  ===============================================================
    image_id      string     stable id from the image's relative path (see ``sources``)
    path          string     the image file as found
    target        int64      class index (word position for captioners)
    class_name    string     class name (the word for captioners)
    clean_score   float64    ``P(target | image)``
    sigma         string     the scale as given, e.g. ``"5,3,6"`` (light, shadow, spatial)
    grid          int64      search points per axis
    mode          string     ``fusion``, ``light`` or ``shadow``
    n_forward     int64      forward rows of the sweep that made the map (shared by every
                             target of that image and sigma; the whole run when recursive)
    map_file      string     the ``.npz`` holding the map, relative to OUT
    map_key       string     the array's key in it
    height        int64      the map's height (the model's input height)
    width         int64      the map's width
    label         int64      the true class from ``--targets-csv``'s ``label``, else null
    iteration     int64      recursive runs: the iteration (1, 2, ...) of an iteration's
                             map; null for the accumulated map and for non-recursive runs
    runtime       string     what ran the forward passes: ``torch``, ``onnx`` (ONNX Runtime)
                             or ``keras``; null in rows of runs before glas recorded it
    object        int64      detectors and segmenters: the detection's (region's) rank on
                             the image, 0 first; null for classifiers and captioners
    box_x1 ...    float64    detectors: ``box_x1, box_y1, box_x2, box_y2``, the box in pixels
                             of the explained image (``width`` x ``height``); else null
    region_pixels int64      segmenters: the region's size on the model's output grid
    mask_key      string     segmenters: the region's 0/1 mask (output grid) in ``map_file``
    ============= =========  ===============================================================

    For a detector, ``target`` is the detection's class and ``clean_score`` its score; for a
    segmenter, ``target`` is the region's class and ``clean_score`` its geometric-mean
    probability over the region (:mod:`glas_adapters.jobs.objects`).

``OUT/maps/<image_id>.npz``
    One float16 ``(H, W)`` array per ``map_key``, each map divided by its maximum (peak 1, an
    all-zero map stays zero). GLAS maps are defined up to one positive factor per map (the
    log-domain fusion already divides by one), and raw Eq. 3 values of a confident model can
    lie far below float16's smallest number: scaled to peak 1, float16 keeps every map to three
    significant digits. Written atomically (temporary file + rename) as soon as the image is done.
``OUT/figures/<image_id>.png``
    With ``--figures``: the image and its maps (``<image_id>_rglas_<k>.png`` per target for
    recursive runs), drawn from a copy downscaled to the figure's size.
``OUT/records/<image_id>.json``, ``OUT/job.json``, ``OUT/failures.csv``
    Bookkeeping: each finished image's manifest rows (written last: an image is finished when
    its record exists), the settings of the job (a rerun with other settings is refused rather
    than mixed in), and the images that failed with ``--keep-going``.

Why one ``.npz`` per image and a Parquet manifest, not a Parquet tensor column: each image is
written the moment it is done, by a rename, so an interrupted run keeps every finished image
and a rerun computes only the rest (a Parquet file cannot be appended to safely, and rewriting
one growing file per image costs O(N^2)); a reader filters the small manifest with pandas and
opens only the maps it needs, and the maps of any image are one ``np.load`` away without
pyarrow. The manifest is rewritten from the per-image records at the end and on interruption.

Modules: ``sources`` (images, ids, targets CSV), ``spec`` (what a job computes), ``targets``
(which classes), ``work`` (one image: targets, maps, rows), ``figures`` (PNG panels from
downscaled copies), ``layout`` (the output folder), ``manifest`` (its Parquet table), ``job``
(resume, writing, progress, summary), ``cohort`` (cohort maps of a finished folder),
``outputs`` (checked, atomic writes), ``image_io`` (image files and pixels as RGB arrays) and
``memory`` (allocator tuning of the processes that explain). The engines are this process (the
default) and Ray (:mod:`glas_adapters.ray`).
"""

from glas_adapters.jobs.job import JobReport, Outcome, local_outcomes, pending_items, run_job
from glas_adapters.jobs.layout import ImageOutput, OutputFolder
from glas_adapters.jobs.manifest import COLUMNS, MANIFEST
from glas_adapters.jobs.sources import ImageItem, find_images, image_id, read_targets_csv
from glas_adapters.jobs.spec import JobSpec, sigma_text
from glas_adapters.jobs.work import Explained, ImageExplainer

__all__ = ["COLUMNS", "MANIFEST", "Explained", "ImageExplainer", "ImageItem", "ImageOutput", "JobReport", "JobSpec",
           "Outcome", "OutputFolder", "find_images", "image_id", "local_outcomes", "pending_items",
           "read_targets_csv", "run_job", "sigma_text"]

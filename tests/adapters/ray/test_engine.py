"""The Ray engine on a real local Ray cluster (``ray.init(num_cpus=2)``, one per module).

Each job runs a tiny TorchScript model on 16 x 16 images through Ray Data actors and is checked
against the same job in this process: the manifests hold the same rows and the maps agree within
one float16 step of their peak (:func:`_same_output`), an actor that dies mid-job still leaves
every image exactly once, an interrupted job resumes, and cohort maps summed on the workers equal
the in-process sums of the same maps.
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")
pq = pytest.importorskip("pyarrow.parquet")

from glas_adapters.cli.dataset import (  # noqa: E402
    ImageExplainer,
    JobSpec,
    OutputFolder,
    find_images,
    pending_items,
    run_job,
)
from glas_adapters.cli.loading import load_model  # noqa: E402

from ...cli.helpers import files_under, make_quadrant_model, run_glas, save_rgb  # noqa: E402

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
N_IMAGES = 5
ARGS = ("--input-size", "16", "--grid", "4", "--sigma", "2", "1", "--top-k", "2", "--device", "cpu", "--quiet")
#: How far a map of the Ray engine may be from the in-process map: one float16 step below the
#: peak of 1 (``2**-11``, 4.9e-4), times the map's peak. Torch's sums depend on its thread count,
#: which differs between the ``glas`` process (every core) and an actor (one), and a value that
#: moves by a rounding error can round to the neighbouring float16. Measured with
#: EfficientNet-Lite0 on five scikit-image photos (96 px, --grid 8, --sigma 3 1, --top-k 2; two
#: threads in the process, one per actor): 122 of 184,320 map values differed, each by one float16
#: step of its own value, at most 2**-11 of the peak; this tiny model gives equal bits.
MAP_ATOL_OF_PEAK = 2.0 ** -11
#: Clean scores (float32 model outputs) may differ in the same way: 2.1e-5 relative, measured as above.
SCORE_RTOL = 1e-4


@pytest.fixture(scope="module")
def cluster():
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers do not import tests/
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=True,
             logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Five images, the model, and the in-process output of the job."""
    base = tmp_path_factory.mktemp("rayjob")
    rng = np.random.default_rng(7)
    os.makedirs(base / "photos" / "sub")
    for i in range(N_IMAGES):
        save_rgb(str(base / "photos" / ("sub" if i % 2 else "") / f"img{i}.png"), rng.random((16, 16, 3)))
    model = str(base / "quadrant.pt")
    torch.jit.script(make_quadrant_model()).save(model)
    return base, model


@pytest.fixture(scope="module")
def local_output(job):
    from glas_adapters.cli import main

    base, model = job
    out = base / "local"
    assert main(["explain", str(base / "photos"), "--model", model, "--out", str(out), "--cohort", *ARGS]) == 0
    return out


def _same_maps(got, want, where) -> None:
    """Equal shapes and dtypes, values within :data:`MAP_ATOL_OF_PEAK` of the reference map's peak."""
    assert got.shape == want.shape and got.dtype == want.dtype, where
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert diff.max() <= MAP_ATOL_OF_PEAK * np.abs(want.astype(np.float64)).max(), (where, diff.max())


def _same_output(out, reference) -> None:
    """The same manifest (clean scores within :data:`SCORE_RTOL`), map files, keys and maps (:func:`_same_maps`)."""
    got, want = pq.read_table(out / "manifest.parquet"), pq.read_table(reference / "manifest.parquet")
    assert got.drop_columns(["clean_score"]).equals(want.drop_columns(["clean_score"]))
    np.testing.assert_allclose(got.column("clean_score").to_numpy(), want.column("clean_score").to_numpy(),
                               rtol=SCORE_RTOL, atol=0)
    maps = [f for f in files_under(str(reference)) if f.startswith("maps/")]
    assert [f for f in files_under(str(out)) if f.startswith("maps/")] == maps and len(maps) == N_IMAGES
    for name in maps:
        a, b = np.load(out / name), np.load(reference / name)
        assert a.files == b.files
        for key in a.files:
            _same_maps(a[key], b[key], (name, key))


def test_ray_engine_maps_match_in_process_maps(cluster, job, local_output, tmp_path, capsys):
    from glas_adapters.jobs.cohort import cohort_maps

    base, model = job
    out = tmp_path / "ray"
    run = run_glas(capsys, "explain", str(base / "photos"), "--model", model, "--out", str(out), "--engine", "ray",
                   "--workers", "2", "--cohort", *ARGS)
    assert run.code == 0, run.err
    assert f"explained {N_IMAGES} of {N_IMAGES} images" in run.out
    _same_output(out, local_output)
    ray_cohort, local_cohort = np.load(out / "cohort.npz"), np.load(local_output / "cohort.npz")
    assert ray_cohort.files == local_cohort.files and len(ray_cohort.files) == 4   # 2 targets x 2 sigmas
    here = cohort_maps(str(out))                       # the same maps summed in this process
    for key in ray_cohort.files:                       # the same sums, added in another order
        np.testing.assert_allclose(ray_cohort[key], here[key], rtol=0, atol=1e-6)


class CrashOnce:
    """A picklable model factory whose model kills its actor's process the first time it explains."""

    def __init__(self, model: str, marker: str) -> None:
        self.model, self.marker = model, marker

    def __call__(self):
        return _Crashing(load_model(self.model, device="cpu", input_size=(16, 16)), self.marker)


class _Crashing:
    def __init__(self, model, marker: str) -> None:
        self._model, self._marker = model, marker

    def __getattr__(self, name):
        return getattr(self._model, name)

    def explain(self, *args, **kwargs):
        if not os.path.exists(self._marker):
            open(self._marker, "w").close()
            os._exit(1)                                 # the actor's process dies mid-image
        return self._model.explain(*args, **kwargs)


def _spec() -> JobSpec:
    return JobSpec(top_k=2, sigmas=(2.0, 1.0), grid=4)


def _folder(job, out) -> tuple[list, OutputFolder]:
    from glas_adapters.cli.command import build_parser
    from glas_adapters.cli.runs import _job_settings

    base, model = job
    args = build_parser().parse_args(["explain", str(base / "photos"), "--model", model, "--out", str(out), *ARGS])
    items = find_images([str(base / "photos")], exclude=str(out))
    return items, OutputFolder(str(out), _job_settings(args, (2.0, 1.0)))


def test_an_actor_that_dies_mid_job_loses_no_image_and_repeats_none(cluster, job, local_output, tmp_path):
    from glas_adapters.ray import ray_outcomes

    base, model = job
    out, marker = tmp_path / "crash", str(tmp_path / "crashed")
    items, folder = _folder(job, out)
    outcomes = ray_outcomes(CrashOnce(model, marker), _spec(), workers=2)
    report = run_job(items, items, folder, outcomes, keep_going=False, progress=False)
    assert os.path.exists(marker)                      # an actor did die
    assert report.done == N_IMAGES and not report.failures
    ids = pq.read_table(out / "manifest.parquet").column("image_id").to_pylist()
    assert sorted(set(ids)) == sorted(item.image_id for item in items) and len(ids) == N_IMAGES * 4
    _same_output(out, local_output)


def test_an_interrupted_ray_job_resumes_where_it_stopped(cluster, job, local_output, tmp_path, capsys):
    from glas_adapters.ray import ray_outcomes

    base, model = job
    out = tmp_path / "resume"
    items, folder = _folder(job, out)
    outcomes = ray_outcomes(functools.partial(load_model, model, device="cpu", input_size=(16, 16)), _spec(),
                            workers=2)

    def interrupted(pending):
        for n, outcome in enumerate(outcomes(pending)):
            if n == 2:
                raise KeyboardInterrupt                 # Ctrl-C in the driver after two images
            yield outcome

    with pytest.raises(KeyboardInterrupt):
        run_job(items, items, folder, interrupted, keep_going=False, progress=False)
    assert len(set(pq.read_table(out / "manifest.parquet").column("image_id").to_pylist())) == 2
    assert len(pending_items(items, folder, False, False)) == N_IMAGES - 2
    run = run_glas(capsys, "explain", str(base / "photos"), "--model", model, "--out", str(out), "--engine", "ray",
                   *ARGS)
    assert run.code == 0, run.err
    assert f"explained {N_IMAGES - 2} of {N_IMAGES} images" in run.out
    _same_output(out, local_output)


def test_explain_dataset_on_in_memory_images_with_a_torch_module(cluster, tmp_path):
    from glas_adapters.cli.dataset import ImageItem
    from glas_adapters.ray import explain_dataset
    from glas_adapters.ray.engine import as_model

    rng = np.random.default_rng(3)
    images = [(rng.random((16, 16, 3)) * 255).astype(np.uint8) for _ in range(3)]
    ds = ray.data.from_items([{"image_id": f"im{i}", "image": img, "targets": [1, 0], "label": i % 2}
                              for i, img in enumerate(images)])
    out = tmp_path / "mem"
    report = explain_dataset(ds, make_quadrant_model, str(out), sigma=[2.0], grid=4, input_size=(16, 16), workers=2)
    assert report.done == 3 and not report.failures
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [(r["image_id"], r["target"], r["label"]) for r in rows] == [
        (f"im{i}", t, i % 2) for i in range(3) for t in (1, 0)]
    here = ImageExplainer(as_model(make_quadrant_model(), (16, 16), "softmax"), JobSpec(sigmas=(2.0,), grid=4))
    for i, img in enumerate(images):
        item = ImageItem(f"im{i}", "", f"im{i}", (1, 0), i % 2)
        mine = np.load(io.BytesIO(here.explain(item, pixels=img).output.maps))
        theirs = np.load(out / "maps" / f"im{i}.npz")
        assert theirs.files == mine.files
        for key in theirs.files:
            _same_maps(theirs[key], mine[key], (f"im{i}", key))
    again = explain_dataset(ds, make_quadrant_model, str(out), sigma=[2.0], grid=4, input_size=(16, 16), workers=2)
    assert again.done == 0 and again.resumed == 3


def test_the_local_engine_never_imports_ray(job, tmp_path):
    base, model = job
    code = ("import sys; from glas_adapters.cli import main; "
            f"rc = main(['explain', {str(base / 'photos')!r}, '--model', {model!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--input-size', '16', '--grid', '2', '--quiet']); "
            "sys.exit(rc if rc else 3 if 'ray' in sys.modules else 0)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])

"""The keyword vocabulary of glas_adapters.tf: targets / class_index, config=, None defaults, lam,
callable probabilities, and one progress report over every sweep of a call."""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_adapters import tf as glas_tf
from glas_core import DEFAULT_SIGMA, GLASConfig, GLASError
from tests.adapters.tf.tiny_keras import images, np_softmax, paper_scale, tf, tiny_cnn

SHAPE = (10, 10, 3)


@pytest.fixture(scope="module")
def model():
    return tiny_cnn(SHAPE, 3, seed=13)


@pytest.fixture(scope="module")
def x():
    return images(2, SHAPE, seed=14)


def test_class_index_is_an_alias_of_targets(model, x):
    by_targets = glas_tf.explain(model, x, targets=[2, 0], grid=3)
    np.testing.assert_array_equal(glas_tf.explain(model, x, class_index=[2, 0], grid=3), by_targets)
    np.testing.assert_array_equal(glas_tf.explain(model, x, [2, 0], grid=3), by_targets)
    assert np.abs(glas_tf.explain(model, x, targets=[1, 1], grid=3) - by_targets).max() > 0
    with pytest.raises(GLASError, match="class_index must be None when targets= is given"):
        glas_tf.explain(model, x, targets=[2, 0], class_index=[2, 0], grid=3)
    # an error about the classes names the keyword the caller used
    with pytest.raises(GLASError, match=r"class_index must be class indices in \[0, 3\), got \[7\]"):
        glas_tf.explain_recursive(model, x, class_index=7, grid=3)


def test_config_gives_the_keyword_maps_and_excludes_the_keywords(model, x):
    by_keywords = glas_tf.explain(model, x, 1, grid=(3, 4), sigma=(2.0, 1.0, 1.5), mode="shadow", lam=1e-3,
                                  batch_size=7)
    config = GLASConfig(grid=(3, 4), sigma=(2.0, 1.0, 1.5), mode="shadow", lam=1e-3, batch_size=7)
    np.testing.assert_array_equal(glas_tf.explain(model, x, 1, config=config), by_keywords)
    with pytest.raises(GLASError, match="config"):
        glas_tf.explain(model, x, 1, config=config, grid=3)
    # an explicit default is a given keyword, not "not given"
    with pytest.raises(GLASError, match="sigma"):
        glas_tf.explain(model, x, 1, config=config, sigma=DEFAULT_SIGMA)
    rec = glas_tf.explain_recursive(model, x[0], 1, config=GLASConfig(grid=3, sigma=1.0), max_iter=2)
    np.testing.assert_array_equal(rec, glas_tf.explain_recursive(model, x[0], 1, grid=3, sigma=1.0, max_iter=2))
    multi = glas_tf.explain_multiscale(model, x[0], 1, sigmas=[2.0, 1.0], config=GLASConfig(grid=3))
    np.testing.assert_array_equal(multi, glas_tf.explain_multiscale(model, x[0], 1, sigmas=[2.0, 1.0], grid=3))


def test_none_settings_are_the_paper_defaults():
    model, x = tiny_cnn((16, 16, 3), 3, seed=15), images(1, (16, 16, 3), seed=16)
    defaults = glas_tf.explain(model, x, 0, return_result=True)[0]
    assert defaults.grid == (15, 15) and defaults.n_forward == 2 * 15 * 15 + 1
    explicit = glas_tf.explain(model, x, 0, grid=15, sigma=DEFAULT_SIGMA, mode="fusion", lam=1e-5, batch_size=64,
                               return_result=True)[0]
    np.testing.assert_array_equal(defaults.to_numpy(), explicit.to_numpy())
    other_sigma = glas_tf.explain(model, x, 0, sigma=1.0, return_result=True)[0]
    assert np.abs(defaults.to_numpy() - other_sigma.to_numpy()).max() > 0


def test_lam_reaches_the_shadow_scores(model, x):
    """Shadow mode with a large lam against the core on a NumPy score function."""
    def score_fn(batch):
        return np_softmax(model(np.asarray(batch, np.float32), training=False).numpy())[:, [2]]

    got = paper_scale(glas_tf.explain(model, x[0], 2, grid=3, mode="shadow", lam=0.5, return_result=True))[0, 0]
    core = glas_core.explain(score_fn, x[0], spatial_axes=(0, 1), grid=3, mode="shadow", lam=0.5).to_numpy()[0]
    np.testing.assert_allclose(got, core, rtol=1e-4, atol=1e-7)
    default_lam = paper_scale(glas_tf.explain(model, x[0], 2, grid=3, mode="shadow", return_result=True))[0, 0]
    assert np.abs(got - default_lam).max() > 1e-3 * np.abs(got).max()


def test_callable_probabilities_equal_the_named_ones(model, x):
    # the named softmax is scored in log-probabilities (maps divided by exp(log_scale)), a
    # callable in probabilities (maps on the paper's scale, log_scale None)
    named = paper_scale(glas_tf.explain(model, x, [0, 2], grid=3, return_result=True))
    given = glas_tf.explain(model, x, [0, 2], grid=3, probabilities=lambda z: tf.nn.softmax(z, axis=-1),
                            return_result=True)
    assert given[0].log_scale is None
    np.testing.assert_allclose(np.stack([r.to_numpy() for r in given]), named, rtol=1e-5,
                               atol=1e-6 * np.abs(named).max())
    # None for the predicted class: the callable also picks the class (here: the least probable)
    least = glas_tf.explain(model, x, grid=3, probabilities=lambda z: tf.nn.softmax(-z, axis=-1))
    clean = model(x, training=False).numpy()
    flipped = glas_tf.explain(model, x, list(np.argmin(clean, axis=1)), grid=3,
                              probabilities=lambda z: tf.nn.softmax(-z, axis=-1))
    np.testing.assert_array_equal(least, flipped)


def test_multiscale_progress_is_one_report_over_every_sweep(model, x):
    calls = []
    glas_tf.explain_multiscale(model, x, 1, sigmas=[2.0, 1.0], grid=3, batch_size=8,
                               progress=lambda d, t: calls.append((d, t)))
    total = 2 * 2 * (2 * 9 + 1)  # images x scales x rows
    done = [d for d, _ in calls]
    assert calls[-1] == (total, total) and all(t == total for _, t in calls)
    assert done == sorted(done) and len(set(done)) == len(done)


def test_recursive_progress_grows_with_the_iterations(model, x):
    calls = []
    results = glas_tf.explain_recursive(model, x, 1, grid=3, max_iter=3, batch_size=8,
                                        progress=lambda d, t: calls.append((d, t)), return_result=True)
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(d <= t for d, t in calls)
    # every sweep's rows are counted once: iteration i's map came from a sweep of 1 + 2 P_i rows
    sweep_rows = sum(1 + 2 * it.n_points for r in results for per_target in r.iterations for it in per_target)
    assert sum(len(per_target) for r in results for per_target in r.iterations) > 2  # several sweeps per image
    assert calls[-1] == (sweep_rows, sweep_rows)

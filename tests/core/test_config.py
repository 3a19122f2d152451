"""Settings: config= on explain, None meaning "the default", and the one row layout of a sweep."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import glas_core
from glas_core import DEFAULT_SIGMA, GLASConfig, GLASError
from glas_core.config import RowLayout, config_from

X = np.random.default_rng(1).random((2, 12, 12))
W = np.random.default_rng(2).normal(size=(2 * 12 * 12, 3))


def score(batch):
    z = batch.reshape(len(batch), -1) @ W
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, :2]


def test_config_gives_the_same_map_as_the_keywords():
    by_keywords = glas_core.explain(score, X, grid=4, sigma=(2, 1, 3), mode="light", lam=1e-3, batch_size=5)
    cfg = GLASConfig(grid=4, sigma=(2, 1, 3), mode="light", lam=1e-3, batch_size=5)
    by_config = glas_core.explain(score, X, config=cfg)
    assert np.array_equal(by_keywords.to_numpy(), by_config.to_numpy())
    assert by_config.config == cfg and by_config.n_forward == 1 + 16


def test_none_means_the_default_and_an_explicit_default_is_honoured():
    default = glas_core.explain(score, X, grid=4).to_numpy()
    explicit = glas_core.explain(score, X, grid=4, sigma=DEFAULT_SIGMA, mode="fusion", lam=1e-5,
                                 batch_size=64).to_numpy()
    assert np.array_equal(default, explicit)
    # sigma=(5, 3, 6) with sigma_px would be two scales for one thing: refused, not ignored
    with pytest.raises(GLASError, match="sigma"):
        glas_core.explain(score, X, grid=4, sigma=DEFAULT_SIGMA, sigma_px=2.0).saliency  # noqa: B018
    by_px = glas_core.explain(score, X, grid=4, sigma_px=2.0)
    assert by_px.sigma_px == ((2.0, 2.0),) * 3


@pytest.mark.parametrize("keyword", [dict(grid=5), dict(sigma=1.0), dict(mode="shadow"), dict(lam=0.1),
                                     dict(batch_size=3), dict(sigma_px=2.0)])
def test_config_with_a_keyword_is_refused(keyword):
    with pytest.raises(GLASError, match=r"config must be either config= or the setting keywords, not both, "
                                        rf"got a GLASConfig together with {next(iter(keyword))}="):
        glas_core.explain(score, X, config=GLASConfig(grid=4), **keyword)


def test_config_of_the_wrong_type_is_refused():
    with pytest.raises(GLASError, match="config must be a glas_core.GLASConfig or None, got dict"):
        glas_core.explain(score, X, config={"grid": 4})


def test_config_from_points_clears_the_default_grid():
    cfg = config_from(None, points=[[2.0, 3.0], [8.0, 8.0]], sigma_px=2.0)
    assert cfg.grid is None and cfg.points.shape == (2, 2)
    res = glas_core.explain(score, X, config=dataclasses.replace(cfg, mode="light"))
    assert res.n_forward == 3 and res.grid is None


@pytest.mark.parametrize("mode, light, shadow, rows", [("fusion", slice(1, 8), slice(8, 15), 15),
                                                       ("light", slice(1, 8), None, 8),
                                                       ("shadow", None, slice(1, 8), 8)])
def test_row_layout(mode, light, shadow, rows):
    layout = RowLayout(7, mode)
    assert (layout.light, layout.shadow, layout.n_rows) == (light, shadow, rows)
    kinds = [k for k, _ in layout.segments()]
    assert kinds == ["clean"] + (["light"] if light else []) + (["shadow"] if shadow else [])


def test_sweep_rows_follow_the_layout():
    """The score_fn sees the clean row first, then light rows (x * G), then shadow rows (x * (1 - G))."""
    seen = []

    def recording(batch):
        seen.append(np.array(batch))
        return score(batch)

    res = glas_core.explain(recording, X, grid=3, sigma=2.0, batch_size=4)  # one scale for G and 1 - G
    rows = np.concatenate(seen)
    layout = RowLayout(9, "fusion")
    assert rows.shape[0] == layout.n_rows == res.n_forward
    assert np.array_equal(rows[0], X)
    light, shadow = rows[layout.light], rows[layout.shadow]
    # the masks of one point are complements: light + shadow rows add up to the clean image
    np.testing.assert_allclose(light + shadow, np.broadcast_to(X, light.shape), rtol=0, atol=1e-12)
    # a light row keeps its own centre brightest relative to the image, a shadow row darkens it
    centres = np.rint(res.points).astype(int)
    for i, (r, c) in enumerate(centres):
        ratio = light[i, 0] / X[0]
        assert ratio[r, c] == pytest.approx(ratio.max())

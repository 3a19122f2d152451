"""glas_core.viz: figures are pyplot-free, draw the right data in the right place, and refuse bad input.

Geometry is checked on the rendered pixels: a map's hot cell must come out red (jet's top)
exactly where it lies on the image, including when the map is smaller than the image.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402

import glas_core  # noqa: E402
from glas_core import GLASError, viz  # noqa: E402


def _render(fig: Figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(np.float64) / 255.0


def _pixel_at(fig: Figure, rgb: np.ndarray, ax, x: float, y: float) -> np.ndarray:
    """Rendered colour at data coordinates (x, y) of ``ax``."""
    dx, dy = ax.transData.transform((x, y))
    height = rgb.shape[0]
    return rgb[int(round(height - dy)), int(round(dx))]


def _is_red(c: np.ndarray) -> bool:
    return c[0] > c[2] + 0.2  # jet's upper half (orange to dark red) blended 50% over black


def _is_blue(c: np.ndarray) -> bool:
    return c[2] > c[0] + 0.1  # jet's lower part (dark blue to cyan) over black


def test_importing_glas_core_does_not_import_matplotlib():
    code = "import sys, glas_core, glas_core.viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_figures_never_touch_pyplot():
    code = ("import sys, numpy as np; from glas_core import viz; "
            "img = np.zeros((20, 30, 3)); m = np.random.default_rng(0).random((5, 5)); "
            "figs = [viz.overlay(img, m), viz.multiscale_strip(img, np.stack([m, m])), "
            "viz.caption_words(img, ['a'], m[None]), viz.recursive_iterations(img, [m, m]), "
            "viz.volume_slices(np.ones((4, 5, 6)), np.random.default_rng(1).random((4, 5, 6))), "
            "viz.region_ranking(['a', 'b'], [1.0, 2.0])]; "
            "print('matplotlib.pyplot' in sys.modules, all(type(f).__name__ == 'Figure' for f in figs))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False True"


@pytest.mark.parametrize("map_shape", [(40, 60), (8, 12)])
def test_overlay_puts_the_hot_cell_where_it_is_on_the_image(map_shape):
    image = np.zeros((40, 60, 3))
    heat = np.zeros(map_shape)
    rows, cols = map_shape
    heat[rows // 4, 3 * cols // 4] = 1.0           # hot cell: top right quadrant
    fig = viz.overlay(image, heat)
    ax = fig.axes[0]
    rgb = _render(fig)
    # centre of the hot cell in image pixel coordinates: cells are 40/rows by 60/cols pixels
    cy = (rows // 4 + 0.5) * 40 / rows - 0.5
    cx = (3 * cols // 4 + 0.5) * 60 / cols - 0.5
    assert _is_red(_pixel_at(fig, rgb, ax, cx, cy))
    assert _is_blue(_pixel_at(fig, rgb, ax, 60 - 1 - cx, 40 - 1 - cy))  # mirrored point is cold


def test_overlay_accepts_channels_first_uint8_and_grey_images():
    heat = np.zeros((10, 10))
    heat[2, 2] = 1.0
    for image in (np.zeros((3, 10, 10), dtype=np.uint8), np.zeros((10, 10)), np.zeros((10, 10, 1), np.float32)):
        fig = viz.overlay(image, heat)
        rgb = _render(fig)
        assert _is_red(_pixel_at(fig, rgb, fig.axes[0], 2, 2))


def test_display_image_conversions_are_exact():
    u8 = np.array([[[0, 51, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(viz.as_display_image(u8), [[[0.0, 0.2, 1.0]]])
    u16 = np.array([[65535, 0]], dtype=np.uint16)
    np.testing.assert_allclose(viz.as_display_image(u16), [[[1, 1, 1], [0, 0, 0]]])
    normalised = np.array([[[-2.0, 0.0, 2.0]]])            # out of [0, 1]: min-max rescaled
    np.testing.assert_allclose(viz.as_display_image(normalised), [[[0.0, 0.5, 1.0]]])
    chw = np.zeros((3, 4, 5))
    chw[0] = 1.0
    out = viz.as_display_image(chw)
    assert out.shape == (4, 5, 3) and np.all(out[..., 0] == 1.0) and np.all(out[..., 1:] == 0.0)


def test_multiscale_strip_layout_and_data():
    image = np.zeros((16, 16, 3))
    maps = np.random.default_rng(0).random((2, 3, 16, 16))   # 2 targets x 3 scales
    fig = viz.multiscale_strip(image, maps, scale_labels=["s5", "s3", "s1"], row_labels=["cat", "dog"])
    axes = fig.axes
    assert len(axes) == 2 * 4
    assert [a.get_title() for a in axes[:4]] == ["cat", "s5", "s3", "s1"]
    assert axes[4].get_title() == "dog"
    # the heat layer of row 1, scale 2 is that map, min-max normalised
    m = maps[1, 2]
    np.testing.assert_allclose(axes[7].images[1].get_array(), (m - m.min()) / (m.max() - m.min()))


def test_multiscale_strip_takes_explain_multiscale_results():
    x = np.zeros((1, 12, 12))
    x[0, 2:4, 8:10] = 1.0

    def score_fn(batch):
        return np.stack([batch[:, 0, 2:4, 8:10].mean(axis=(1, 2)), batch[:, 0].mean(axis=(1, 2))], axis=1)

    results = glas_core.explain_multiscale(score_fn, x, sigmas=[2.0, 1.0], grid=6)
    fig = viz.multiscale_strip(x, results)
    assert len(fig.axes) == 2 * 3                              # 2 targets x (image + 2 scales)
    first = results[1].to_numpy()[0]
    np.testing.assert_allclose(fig.axes[2].images[1].get_array(),
                               (first - first.min()) / (first.max() - first.min()), rtol=1e-6)


def test_recursive_iterations_draws_every_iteration_and_the_sum():
    x = np.zeros((1, 24, 24))
    x[0, 3:6, 3:6] = 1.0
    x[0, 17:20, 17:20] = 1.0

    def score_fn(batch):
        a = batch[:, 0, 3:6, 3:6].mean(axis=(1, 2))
        b = batch[:, 0, 17:20, 17:20].mean(axis=(1, 2))
        return (0.5 * (a + b))[:, None]

    res = glas_core.explain_recursive(score_fn, x, grid=8, sigma=1.0, max_iter=3)
    n_iter = len(res.iterations[0])
    fig = viz.recursive_iterations(x, res, title="rglas")
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["image"] + [f"iteration {i + 1}" for i in range(n_iter)] + ["accumulated"]
    acc = res.to_numpy()[0]
    np.testing.assert_allclose(fig.axes[-1].images[1].get_array(), (acc - acc.min()) / (acc.max() - acc.min()),
                               rtol=1e-6)
    with pytest.raises(GLASError, match="target"):
        viz.recursive_iterations(x, res, target=1)


def test_caption_words_titles_and_shape_checks():
    image = np.zeros((8, 8, 3))
    maps = np.random.default_rng(0).random((3, 8, 8))
    fig = viz.caption_words(image, ["a", "red", "circle"], maps, ncols=2)
    titles = [a.get_title() for a in fig.axes if a.get_title()]
    assert titles == ["image", "a", "red", "circle"]
    assert fig._suptitle.get_text() == "a red circle"
    with pytest.raises(GLASError, match="number of words"):
        viz.caption_words(image, ["a", "red"], maps)


def test_volume_slices_cut_through_the_peak():
    rng = np.random.default_rng(0)
    volume = rng.random((6, 7, 8))
    sal = np.zeros((6, 7, 8))
    sal[2, 5, 1] = 1.0
    fig = viz.volume_slices(volume, sal[None])
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["axial (d=2)", "coronal (h=5)", "sagittal (w=1)"]
    vn = (volume - volume.min()) / (volume.max() - volume.min())
    np.testing.assert_allclose(axes[0].images[0].get_array(), vn[2])
    np.testing.assert_allclose(axes[1].images[0].get_array(), vn[:, 5])
    np.testing.assert_allclose(axes[2].images[0].get_array(), vn[:, :, 1])
    np.testing.assert_allclose(axes[2].images[1].get_array(), sal[:, :, 1])
    fig = viz.volume_slices(volume, sal, index=(0, 0, 0))
    assert fig.axes[0].get_title() == "axial (d=0)"
    with pytest.raises(GLASError, match="same shape"):
        viz.volume_slices(volume, sal[:, :, :4])
    with pytest.raises(GLASError, match="index"):
        viz.volume_slices(volume, sal, index=(6, 0, 0))


def test_region_ranking_orders_bars_by_score():
    names = ["hippocampus", "amygdala", "cortex", "thalamus"]
    scores = np.array([0.2, 0.9, 0.1, 0.5])
    fig = viz.region_ranking(names, scores, top=3)
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda p: -p.get_y())      # top row first
    np.testing.assert_allclose([b.get_width() for b in bars], [0.9, 0.5, 0.2])
    labels = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    assert [labels[p] for p in sorted(labels, reverse=True)] == ["amygdala", "thalamus", "hippocampus"]
    with pytest.raises(GLASError, match="one score per region"):
        viz.region_ranking(names, scores[:3])
    with pytest.raises(GLASError, match="finite"):
        viz.region_ranking(names, [0.1, np.nan, 0.2, 0.3])


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 3, 4, 5)), "one 2-D map"),
    (np.full((4, 4), np.nan), "finite map"),
])
def test_overlay_refuses_bad_maps(bad, match):
    with pytest.raises(GLASError, match=match):
        viz.overlay(np.zeros((4, 4, 3)), bad)


def test_overlay_refuses_bad_images():
    with pytest.raises(GLASError, match="image"):
        viz.overlay(np.zeros((5, 5, 7)), np.zeros((4, 4)))
    with pytest.raises(GLASError, match="NaN"):
        viz.overlay(np.full((4, 4, 3), np.nan), np.zeros((4, 4)))


def test_results_render_inline_in_a_notebook():
    pytest.importorskip("matplotlib")
    import io

    from matplotlib.image import imread

    x = np.random.default_rng(0).random((1, 12, 16))
    res = glas_core.explain(lambda b: np.stack([b[:, 0, :4, :4].mean(axis=(1, 2)),
                                                b[:, 0, 8:, 8:].mean(axis=(1, 2))], axis=1), x, grid=4)
    png = res._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(io.BytesIO(png))
    assert pixels.shape[1] > pixels.shape[0]  # two maps side by side
    rec = glas_core.explain_recursive(lambda b: b[:, 0, :4, :4].mean(axis=(1, 2))[:, None], x, grid=4, max_iter=2)
    assert rec._repr_png_()[:4] == b"\x89PNG"
    vol = glas_core.explain(lambda b: b.mean(axis=(1, 2, 3, 4))[:, None] * 0 + b[:, 0, 0, 0, 0][:, None],
                            np.random.default_rng(1).random((1, 4, 4, 4)), spatial_axes=(-3, -2, -1), grid=2)
    assert vol._repr_png_() is None  # a volume has no single picture: the notebook shows the text


def test_series_draws_every_channel_above_a_band_coloured_by_the_map():
    t = np.arange(50, dtype=np.float64)
    signal = np.stack([np.sin(t / 5), np.cos(t / 7)])
    sal = np.zeros(50)
    sal[30:35] = 4.0
    sal[5] = 1.0
    fig = viz.series(signal, sal[None], times=t / 10, channel_names=["x", "y"], xlabel="seconds")
    axes = fig.axes
    assert len(axes) == 3 and [a.get_ylabel() for a in axes] == ["x", "y", "map"]
    for ax, channel in zip(axes[:2], signal):
        (line,) = ax.get_lines()
        np.testing.assert_allclose(line.get_ydata(), channel)
        np.testing.assert_allclose(line.get_xdata(), t / 10)
    np.testing.assert_allclose(axes[2].images[0].get_array()[0], sal / 4.0)  # min-max normalised
    rgb = _render(fig)
    band = axes[2]
    assert _is_red(_pixel_at(fig, rgb, band, 3.2, 0.5))        # sample 32 is the map's peak: jet's top
    assert _is_blue(_pixel_at(fig, rgb, band, 1.5, 0.5))       # sample 15 is 0: jet's bottom
    hot, cold = _pixel_at(fig, rgb, band, 0.5, 0.5), _pixel_at(fig, rgb, band, 1.0, 0.5)
    assert not np.allclose(hot, cold)                          # sample 5 (0.25) is not sample 10 (0)
    one = viz.series(np.sin(t), sal)
    assert len(one.axes) == 2 and one.axes[0].get_ylabel() == "signal"


def test_series_refuses_a_map_of_another_length():
    with pytest.raises(GLASError, match=r"signal \(T >= 2\) and a \(T,\) map, got signal \(2, 50\) and map \(40,\)"):
        viz.series(np.zeros((2, 50)), np.zeros(40))
    with pytest.raises(GLASError, match="times must be 50 increasing finite times"):
        viz.series(np.zeros(50), np.zeros(50), times=np.zeros(50))
    with pytest.raises(GLASError, match="channel_names must be 2 names"):
        viz.series(np.zeros((2, 50)), np.zeros(50), channel_names=["a"])


def test_video_frames_one_panel_per_frame_on_one_colour_scale():
    clip = np.zeros((5, 12, 16, 3), np.uint8)
    sal = np.zeros((5, 6, 8))
    sal[3, 1, 6] = 2.0     # the clip's peak: frame 3, top right
    sal[1, 4, 1] = 1.0     # half of it in frame 1, bottom left
    fig = viz.video_frames(clip, sal, title="clip")
    axes = fig.axes
    assert [a.get_title() for a in axes] == [f"frame {t}" for t in range(5)]
    for t, ax in enumerate(axes):  # one scale for the whole clip: frame 1's cell stays at 0.5
        np.testing.assert_allclose(ax.images[1].get_array(), sal[t] / 2.0)
    rgb = _render(fig)
    # cell (1, 6) of a 6 x 8 map covers image pixels y 2-3, x 12-13
    assert _is_red(_pixel_at(fig, rgb, axes[3], 12.5, 2.5))
    assert _is_blue(_pixel_at(fig, rgb, axes[3], 2.5, 9.5))
    mid = _pixel_at(fig, rgb, axes[1], 2.5, 8.5)   # 0.5 of jet is green: neither red nor blue
    assert mid[1] > mid[0] and mid[1] > mid[2]
    assert _is_blue(_pixel_at(fig, rgb, axes[0], 12.5, 2.5))


def test_video_frames_shows_evenly_spaced_frames_of_a_long_clip():
    clip = np.random.default_rng(0).random((20, 6, 6))
    sal = np.random.default_rng(1).random((20, 6, 6))
    fig = viz.video_frames(clip, sal, ncols=4)
    titles = [a.get_title() for a in fig.axes]
    assert len(titles) == viz.signals.MAX_FRAMES and titles[0] == "frame 0" and titles[-1] == "frame 19"
    assert len(viz.video_frames(clip, sal, frames=[2, 7]).axes) == 2
    with pytest.raises(GLASError, match=r"frames must be frame indices in \[0, 20\)"):
        viz.video_frames(clip, sal, frames=[20])
    with pytest.raises(GLASError, match="a \\(T, h, w\\) map of as many frames"):
        viz.video_frames(clip, sal[:4])

"""glas_core.viz.objects: boxes and region outlines drawn where they are, beside their maps.

The boxes are read back from the figure's Rectangle artists and the outlines from its
LineCollections, and compared with the coordinates computed here by hand; the outline of a
region is compared with a plain loop over its cells' sides.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from glas_core import GLASError  # noqa: E402
from glas_core.viz.objects import detection_boxes, region_outline, segment_regions  # noqa: E402


def _unit_sides_loop(mask: np.ndarray) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """Every cell side on the region's boundary, as ((x0, y0), (x1, y1)) in grid units, by a plain loop."""
    h, w = mask.shape
    sides = set()
    for r in range(h):
        for c in range(w):
            if not mask[r, c]:
                continue
            if r == 0 or not mask[r - 1, c]:
                sides.add(((c, r), (c + 1, r)))
            if r == h - 1 or not mask[r + 1, c]:
                sides.add(((c, r + 1), (c + 1, r + 1)))
            if c == 0 or not mask[r, c - 1]:
                sides.add(((c, r), (c, r + 1)))
            if c == w - 1 or not mask[r, c + 1]:
                sides.add(((c + 1, r), (c + 1, r + 1)))
    return sides


def _split(segments: np.ndarray) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    """Merged segments cut back into unit sides."""
    sides = set()
    for (x0, y0), (x1, y1) in segments:
        assert x0 == x1 or y0 == y1  # every segment is horizontal or vertical
        if y0 == y1:
            sides |= {((int(x), int(y0)), (int(x) + 1, int(y0))) for x in range(int(x0), int(x1))}
        else:
            sides |= {((int(x0), int(y)), (int(x0), int(y) + 1)) for y in range(int(y0), int(y1))}
    return sides


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_region_outline_is_every_boundary_side_of_the_region(seed):
    mask = np.random.default_rng(seed).random((9, 13)) > 0.55
    segments = region_outline(mask)
    assert segments.shape[1:] == (2, 2)
    assert _split(segments) == _unit_sides_loop(mask)
    # merged: no two segments on one line touch end to start
    lengths = np.abs(segments[:, 1] - segments[:, 0]).sum(axis=1)
    assert lengths.sum() == len(_unit_sides_loop(mask)) and len(segments) < lengths.sum()


def test_region_outline_of_a_full_and_an_empty_grid():
    full = region_outline(np.ones((3, 4), dtype=bool))
    assert sorted(map(tuple, full.reshape(-1, 4).tolist())) == sorted(
        [(0, 0, 4, 0), (0, 3, 4, 3), (0, 0, 0, 3), (4, 0, 4, 3)])  # the grid's border, one segment a side
    assert region_outline(np.zeros((3, 4), dtype=bool)).shape == (0, 2, 2)


def test_region_outline_refuses_soft_masks():
    with pytest.raises(GLASError, match="one 2-D boolean"):
        region_outline(np.full((3, 3), 0.4))


def _rectangles(ax) -> list[tuple[float, float, float, float]]:
    return [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches if isinstance(p, Rectangle)]


def test_detection_boxes_draws_each_box_where_it_is_beside_its_map():
    image = np.zeros((40, 60, 3))
    boxes = np.array([[10.0, 4.0, 30.0, 20.0], [0.0, 0.0, 60.0, 40.0]])
    maps = np.random.default_rng(0).random((2, 40, 60))
    fig = detection_boxes(image, boxes, maps, names=["cat", "dog"], scores=[0.91, 0.5], ncols=3)
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 3  # the image with every box, then one panel per detection
    # pixel i spans [i - 0.5, i + 0.5] in data coordinates: the box's edge x = 10 is at 9.5
    expected = [(9.5, 3.5, 20.0, 16.0), (-0.5, -0.5, 60.0, 40.0)]
    np.testing.assert_allclose(_rectangles(axes[0]), expected)
    np.testing.assert_allclose(_rectangles(axes[1]), [expected[0]])
    np.testing.assert_allclose(_rectangles(axes[2]), [expected[1]])
    assert [ax.get_title() for ax in axes] == ["detections", "cat 91%", "dog 50%"]
    assert [t.get_text() for t in axes[0].texts] == ["cat 91%", "dog 50%"]
    assert len(axes[1].images) == 2 and len(axes[0].images) == 1  # a map over the photo only in the map panels
    np.testing.assert_allclose(axes[2].images[1].get_array(), (maps[1] - maps[1].min()) / np.ptp(maps[1]))


def test_detection_boxes_scale_with_a_smaller_display_copy():
    # the figure draws a copy of the image half the size of the maps: boxes shrink with it
    fig = detection_boxes(np.zeros((20, 30, 3)), [[10.0, 4.0, 30.0, 20.0]], np.ones((1, 40, 60)))
    ax = [a for a in fig.axes if a.images][1]
    np.testing.assert_allclose(_rectangles(ax), [(4.5, 1.5, 10.0, 8.0)])


def test_detection_boxes_refusals():
    with pytest.raises(GLASError, match=r"\(2, 4\) finite x1, y1, x2, y2 boxes"):
        detection_boxes(np.zeros((8, 8)), np.zeros((3, 4)), np.zeros((2, 8, 8)))
    with pytest.raises(GLASError, match="2 scores, one per box"):
        detection_boxes(np.zeros((8, 8)), np.zeros((2, 4)), np.zeros((2, 8, 8)), scores=[0.5])
    with pytest.raises(GLASError, match=r"\(T, H, W\) maps"):
        detection_boxes(np.zeros((8, 8)), np.zeros((1, 4)), np.zeros((8, 8)))


def test_segment_regions_outline_each_region_on_the_image():
    image = np.zeros((32, 48, 3))
    masks = np.zeros((2, 8, 12), dtype=bool)   # on a grid 4x coarser than the image
    masks[0, 2:5, 3:8] = True
    masks[1] = ~masks[0]
    maps = np.random.default_rng(1).random((2, 32, 48))
    fig = segment_regions(image, masks, maps, names=["road", "sky"])
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 3 and [ax.get_title() for ax in axes] == ["regions", "road", "sky"]
    for t, ax in enumerate(axes[1:]):
        (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        drawn = np.asarray([seg for seg in lines.get_segments()])
        # grid units times 4 pixels, pixel edges at -0.5
        np.testing.assert_allclose(drawn, region_outline(masks[t]) * 4.0 - 0.5)
    box = np.concatenate([s for s in axes[1].collections[0].get_segments()])
    assert box.min(axis=0) == pytest.approx([3 * 4 - 0.5, 2 * 4 - 0.5])
    assert box.max(axis=0) == pytest.approx([8 * 4 - 0.5, 5 * 4 - 0.5])
    assert len([c for c in axes[0].collections if isinstance(c, LineCollection)]) == 2  # both on the image


def test_segment_regions_refuses_masks_that_do_not_match_the_maps():
    with pytest.raises(GLASError, match=r"\(2, h, w\) masks, one per map"):
        segment_regions(np.zeros((8, 8)), np.zeros((3, 4, 4), dtype=bool), np.zeros((2, 8, 8)))

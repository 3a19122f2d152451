"""glas_core.metrics on hand-built maps whose answers are known, and against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from glas_core import GLASError
from glas_core import metrics as M


# ----------------------------------------------------------------------------- connected components
@pytest.mark.parametrize("shape", [(17, 23), (6, 7, 8)])
def test_connected_components_match_scipy_full_connectivity(shape):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(3)
    for density in (0.2, 0.45, 0.6):
        b = rng.random(shape) < density
        labels, n = M.connected_components(b)
        ref, n_ref = ndimage.label(b, structure=np.ones((3,) * b.ndim))
        assert n == n_ref
        # same partition (label ids may differ): a bijection between labels
        pairs = set(zip(labels[b].tolist(), ref[b].tolist()))
        assert len(pairs) == n_ref
        assert np.array_equal(labels == 0, ~b)


def test_connected_components_diagonal_pixels_are_one_blob():
    b = np.eye(5, dtype=bool)
    _, n = M.connected_components(b)
    assert n == 1


# ----------------------------------------------------------------------------- pointing game
def _plateau_and_spike():
    """A 3x4 plateau at 0.97 (rows 10-12, cols 20-23) and one pixel at 1.0 at (2, 2)."""
    s = np.zeros((32, 32))
    s[10:13, 20:24] = 0.97
    s[2, 2] = 1.0
    return s


def test_paper_rule_takes_centroid_of_biggest_blob_not_the_max():
    s = _plateau_and_spike()
    assert M.pointing_point(s) == pytest.approx((11.0, 21.5))
    assert M.pointing_point(s, rule="argmax") == (2.0, 2.0)
    box = M.box_to_mask((20, 10, 24, 13), s.shape)  # exactly the plateau
    assert M.pointing_hit(s, box) is True
    assert M.pointing_hit(s, box, rule="argmax") is False


def test_paper_rule_threshold_is_strict_and_applies_after_min_max():
    # min -1, max 3: normalised values are (v + 1) / 4; 0.95 -> v = 2.8 exactly
    s = np.full((20, 20), -1.0)
    s[0, 0] = 3.0
    s[10:15, 10:15] = 2.8  # normalised exactly 0.95: excluded (T > 0.95)
    assert M.pointing_point(s) == (0.0, 0.0)
    s[10:15, 10:15] = 2.81  # now included: the 5x5 blob is the biggest
    assert M.pointing_point(s) == pytest.approx((12.0, 12.0))


def test_flat_map_points_nowhere_and_misses():
    """A flat map carries no evidence: no point (NaN), a miss even on a box covering the centre,
    zero IoU at every threshold, and no score drop (nothing is darkened)."""
    flat = np.full((5, 9), 0.3)
    for rule in ("paper", "argmax", "torchray"):
        assert np.isnan(M.pointing_point(flat, rule=rule)).all()
        assert M.pointing_hit(flat, M.box_to_mask((2, 1, 7, 4), (5, 9)), rule=rule) is False
    assert np.all(M.iou_at_thresholds(flat, M.box_to_mask((2, 1, 7, 4), (5, 9))) == 0.0)
    x = np.random.default_rng(0).random((1, 5, 9)).astype(np.float32)
    drop = M.score_drop(lambda b: b.reshape(len(b), -1).mean(axis=1, keepdims=True).repeat(2, axis=1), x, flat, 0)
    assert drop.clean == drop.perturbed


def test_fractional_centroid_is_rounded_to_nearest_pixel_for_the_hit():
    s = np.zeros((10, 10))
    s[4:6, 4:6] = 1.0  # centroid (4.5, 4.5) -> rounds to pixel (5, 5)
    only_55 = np.zeros((10, 10), bool)
    only_55[5, 5] = True
    only_44 = np.zeros((10, 10), bool)
    only_44[4, 4] = True
    assert M.pointing_hit(s, only_55)
    assert not M.pointing_hit(s, only_44)


def test_torchray_tolerance_is_euclidean_15_pixels():
    s = np.zeros((64, 64))
    s[30, 10] = 1.0
    gt = np.zeros((64, 64), bool)
    gt[30, 25:] = True  # nearest gt pixel 15 px to the right: a hit
    assert M.pointing_hit(s, gt, rule="torchray")
    gt2 = np.zeros((64, 64), bool)
    gt2[30 + 12, 10 + 10] = True  # distance sqrt(244) = 15.6 > 15: a miss
    assert not M.pointing_hit(s, gt2, rule="torchray")
    assert M.pointing_hit(s, gt2, rule="torchray", tolerance=16)
    assert not M.pointing_hit(s, gt, rule="argmax")  # no tolerance


def test_pointing_game_accuracy_is_hits_over_total():
    s_hit = _plateau_and_spike()
    s_miss = np.zeros((32, 32))
    s_miss[0:2, 0:2] = 1.0
    box = M.box_to_mask((20, 10, 24, 13), (32, 32))
    res = M.pointing_game([s_hit, s_miss, s_hit], [box, box, box])
    assert (res.hits, res.misses) == (2, 1)
    assert res.accuracy == pytest.approx(2 / 3)
    assert res.hit_per_image.tolist() == [True, False, True]


def test_pointing_accepts_a_leading_target_axis_and_torch_tensors():
    torch = pytest.importorskip("torch")
    s = _plateau_and_spike()
    box = M.box_to_mask((20, 10, 24, 13), s.shape)
    assert M.pointing_hit(torch.tensor(s)[None], torch.tensor(box))


def test_box_to_mask_is_half_open_and_clipped():
    m = M.box_to_mask((2, 1, 5, 3), (4, 6))
    expected = np.zeros((4, 6), bool)
    expected[1, 2:5] = expected[2, 2:5] = True
    assert np.array_equal(m, expected)
    assert M.box_to_mask((-3, -3, 100, 2), (4, 6)).sum() == 2 * 6


def test_is_small_is_strictly_below_a_quarter():
    assert not M.is_small((0, 0, 8, 8), (16, 16))  # exactly 1/4
    assert M.is_small((0, 0, 8, 7), (16, 16))
    mask = np.zeros((16, 16), bool)
    mask[:3, :3] = mask[10:, 10:] = True  # union of two boxes: 9 + 36 = 45 < 64
    assert M.is_small(mask)


# ----------------------------------------------------------------------------- IoU, relevance mass
def test_iou_at_thresholds_hand_computed():
    s = np.zeros((10, 10))
    s[0:4, 0:4] = 1.0  # 16 px, the ground truth
    s[6:8, 6:10] = 0.5  # 8 px of false positive above t < 0.5
    gt = np.zeros((10, 10), bool)
    gt[0:4, 0:4] = True
    iou = M.iou_at_thresholds(s, gt, thresholds=(0.3, 0.5, 0.7))
    assert iou == pytest.approx([16 / 24, 1.0, 1.0])  # S > 0.5 excludes the 0.5 block
    gt2 = np.zeros((10, 10), bool)
    gt2[0:2, 0:8] = True  # 16 px, overlap 8 with the 1.0 block
    assert M.iou_at_thresholds(s, gt2, thresholds=(0.7,)) == pytest.approx([8 / 24])


def test_mean_iou_averages_images():
    s1 = np.zeros((4, 4))
    s1[:2] = 1.0
    gt = np.zeros((4, 4), bool)
    gt[:2] = True
    s2 = np.zeros((4, 4))
    s2[:, :2] = 1.0  # overlap 4, union 12
    assert M.mean_iou([s1, s2], [gt, gt], thresholds=(0.5,)) == pytest.approx([(1 + 4 / 12) / 2])


def test_relevance_mass_counts_only_positive_relevance():
    s = np.array([[3.0, 1.0], [-5.0, 0.0]])
    mask = np.array([[True, False], [True, False]])
    assert M.relevance_mass(s, mask) == pytest.approx(3 / 4)
    assert M.relevance_mass(-np.ones((2, 2)), mask) == 0.0


# ----------------------------------------------------------------------------- deletion / insertion
def _pixel_model(row, col):
    """Probability of class 0 = value of pixel (row, col) of channel 0 (clipped), class 1 = rest."""

    def model(batch):
        p = np.clip(batch[:, 0, row, col], 0.0, 1.0)
        return np.stack([p, 1 - p], axis=1)

    return model


def test_deletion_curve_when_the_only_relevant_pixel_goes_first_or_last():
    x = np.ones((2, 4, 4), np.float32)
    model = _pixel_model(0, 0)
    best = np.zeros((4, 4))
    best[0, 0] = 1.0
    f, y = M.deletion_curve(model, x, best, 0, step=4)
    assert f == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert y == pytest.approx([1, 0, 0, 0, 0])
    assert M.curve_auc(f, y) == pytest.approx(0.125)
    worst = 1.0 - best
    _, y = M.deletion_curve(model, x, worst, 0, step=4)
    assert y == pytest.approx([1, 1, 1, 1, 0])
    # insertion from a zero substrate is the mirror image
    _, y = M.insertion_curve(model, x, best, 0, step=4, substrate="zeros")
    assert y == pytest.approx([0, 1, 1, 1, 1])


def _loop_deletion(model, x, s, target, step, substrate):
    """Plain reference: copy the image, delete pixel by pixel in order, score after each step."""
    order = np.argsort(-s.ravel(), kind="stable")
    cur = x.copy()
    scores = [model(cur[None])[0, target]]
    h, w = s.shape
    for i, flat in enumerate(order, start=1):
        r, c = divmod(int(flat), w)
        cur[:, r, c] = substrate[:, r, c]
        if i % step == 0 or i == h * w:
            scores.append(model(cur[None])[0, target])
    return np.array(scores)


@pytest.mark.parametrize("step", [1, 3, 7])
def test_deletion_matches_a_plain_loop_on_a_linear_model(step):
    rng = np.random.default_rng(0)
    x = rng.random((3, 5, 6)).astype(np.float32)
    weights = rng.random((2, 3, 5, 6)) / 90  # outputs in [0, 1], as probabilities must be

    def model(batch):
        return np.einsum("bchw,kchw->bk", batch.astype(np.float64), weights)

    s = rng.random((5, 6))
    _, y = M.deletion_curve(model, x, s, 1, step=step, batch_size=4)
    np.testing.assert_allclose(y, _loop_deletion(model, x, s, 1, step, np.zeros_like(x)), rtol=1e-6)
    blurred = M.blur_substrate(x).astype(np.float32)
    _, y = M.deletion_curve(model, x, s, 1, step=step, substrate="blur")
    np.testing.assert_allclose(y, _loop_deletion(model, x, s, 1, step, blurred), rtol=1e-5)


def test_deletion_auc_is_auc_of_the_mean_curve_over_images():
    x = np.ones((1, 2, 2), np.float32)
    model = _pixel_model(0, 0)
    first = np.array([[1.0, 0], [0, 0]])
    last = np.array([[0.0, 1], [1, 1]])
    auc, f, mean = M.deletion_auc(model, [x, x], [first, last], [0, 0], step=1)
    assert mean == pytest.approx([1, 0.5, 0.5, 0.5, 0])
    assert auc == pytest.approx(0.25 * (0.75 + 0.5 + 0.5 + 0.25))


def test_deletion_respects_hwc_spatial_axes():
    x = np.ones((4, 4, 3), np.float32)

    def model(batch):  # pixel (1, 2) of channel 0 in HWC
        p = batch[:, 1, 2, 0]
        return np.stack([p, 1 - p], axis=1)

    s = np.zeros((4, 4))
    s[1, 2] = 1.0
    _, y = M.deletion_curve(model, x, s, 0, step=1, spatial_axes=(0, 1))
    assert y[:2] == pytest.approx([1, 0])


def test_blur_substrate_matches_a_loop_and_keeps_constants():
    rng = np.random.default_rng(1)
    x = rng.random((1, 9, 12))
    out = M.blur_substrate(x, sigma=1.5)
    radius = 3
    k = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * 1.5**2))
    k /= k.sum()

    def blur_1d(v):
        p = np.pad(v, radius, mode="reflect")
        return np.array([np.dot(p[i : i + k.size], k) for i in range(v.size)])

    ref = np.apply_along_axis(blur_1d, 0, np.apply_along_axis(blur_1d, 1, x[0]))
    np.testing.assert_allclose(out[0], ref, rtol=1e-10)
    np.testing.assert_allclose(M.blur_substrate(np.full((2, 8, 8), 0.3)), 0.3)


def test_curve_auc_trapezoid():
    assert M.curve_auc([0, 0.5, 1], [1, 1, 0]) == pytest.approx(0.75)


# ----------------------------------------------------------------------------- score drop
def test_score_drop_darkens_what_the_map_points_at():
    x = np.full((3, 8, 8), 0.8, np.float32)

    def model(batch):  # class 0 = mean of the top-left 2x2 block
        p = batch[:, :, :2, :2].mean(axis=(1, 2, 3))
        return np.stack([p, 1 - p], axis=1)

    s = np.zeros((8, 8))
    s[:2, :2] = 5.0
    res = M.score_drop(model, x, s, 0)
    assert res.clean == pytest.approx(0.8)
    assert res.perturbed == pytest.approx(0.0)
    assert res.drop == pytest.approx(0.8)
    assert res.relative_drop == pytest.approx(1.0)
    s_away = np.zeros((8, 8))
    s_away[6:, 6:] = 1.0
    assert M.score_drop(model, x, s_away, 0).drop == pytest.approx(0.0)
    # the caller's array is untouched
    assert np.all(x == np.float32(0.8))


def test_score_drop_hwc_half_weight():
    x = np.ones((4, 4, 3), np.float32)

    def model(batch):
        p = batch[:, 0, 0, :].mean(axis=1)
        return np.stack([p, 1 - p], axis=1)

    s = np.zeros((4, 4))
    s[0, 0] = 0.5
    s[3, 3] = 1.0  # normalised: (0, 0) -> 0.5, so the pixel keeps half its value
    assert M.score_drop(model, x, s, 0, spatial_axes=(0, 1)).perturbed == pytest.approx(0.5)


# ----------------------------------------------------------------------------- errors
def test_bad_inputs_raise_glaserror_with_a_message():
    s = np.zeros((8, 8))
    gt = np.zeros((6, 6), bool)
    with pytest.raises(GLASError,
                       match=r"saliency must be the shape of the ground truth, \(6, 6\), got shape \(8, 8\)"):
        M.pointing_hit(s, gt)
    with pytest.raises(GLASError, match="saliency must be finite values, got a map containing NaN or inf"):
        M.pointing_hit(np.full((6, 6), np.nan), gt)
    with pytest.raises(GLASError, match="rule must be 'paper', 'argmax' or 'torchray', got 'centre'"):
        M.pointing_point(s, rule="centre")
    with pytest.raises(GLASError, match=r"target must be a boolean mask \(or 0/1 values\), got dtype float64"):
        M.relevance_mass(np.zeros((6, 6)), np.full((6, 6), 0.5))
    with pytest.raises(GLASError, match="box must be a box with x_max > x_min"):
        M.box_to_mask((5, 0, 2, 3), (8, 8))
    with pytest.raises(GLASError,
                       match="targets must be one ground truth per map, got 1 ground truths for 2 saliency maps"):
        M.pointing_game([s, s], [gt])
    x = np.ones((1, 4, 4), np.float32)
    with pytest.raises(GLASError,
                       match=r"model output must be \(B, n_classes\) scores for a batch of B = 17, got shape \(17,\)"):
        M.deletion_curve(lambda b: np.ones(len(b)), x, np.zeros((4, 4)), 0)
    with pytest.raises(GLASError, match=r"target must be a class index in \[0, 2\), got 5"):
        M.deletion_curve(_pixel_model(0, 0), x, np.zeros((4, 4)), 5)
    with pytest.raises(GLASError, match="step must be a positive number of pixels, got 0"):
        M.deletion_curve(_pixel_model(0, 0), x, np.zeros((4, 4)), 0, step=0)
    with pytest.raises(GLASError, match="substrate must be 'zeros', 'blur', 'mean' or an array, got 'noise'"):
        M.deletion_curve(_pixel_model(0, 0), x, np.zeros((4, 4)), 0, substrate="noise")
    with pytest.raises(GLASError,
                       match=r"saliency must be the shape of x's spatial axes, \(4, 4\), got shape \(3, 3\)"):
        M.score_drop(_pixel_model(0, 0), x, np.zeros((3, 3)), 0)


def test_one_map_and_one_mask_are_one_image_not_rows():
    s = np.zeros((16, 16))
    s[4, 5] = 1.0
    gt = np.zeros((16, 16), bool)
    gt[3:6, 4:7] = True
    res = M.pointing_game(s, gt)
    assert (res.hits, res.misses) == (1, 0)


def test_boxes_outside_the_image_logits_and_bad_thresholds_are_refused():
    with pytest.raises(GLASError, match=r"box must be a box that overlaps the 8 x 8 image, got \(10, 0, 12, 3\)"):
        M.box_to_mask((10, 0, 12, 3), (8, 8))
    assert M.box_to_mask((-2, -2, 3, 3), (8, 8)).sum() == 9  # partly outside: clipped
    x = np.ones((1, 4, 4), np.float32)
    logits = lambda b: np.stack([b.sum(axis=(1, 2, 3)), -b.sum(axis=(1, 2, 3))], axis=1)  # noqa: E731
    with pytest.raises(GLASError, match=r"model output must be probabilities in \[0, 1\], got scores in \[0, 16\]"):
        M.deletion_curve(logits, x, np.arange(16.0).reshape(4, 4), 0)
    for bad in ([0.5, 1.5], [-0.1], [1.0]):
        with pytest.raises(GLASError, match="thresholds must be a non-empty 1-d sequence of numbers in"):
            M.iou_at_thresholds(np.ones((4, 4)), np.ones((4, 4), bool), bad)


# ----------------------------------------------------------------------------- instances separated
def _blob(shape, centre, radius, height=1.0):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return height * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2.0 * radius**2))


BOXES = [(4, 6, 16, 14), (36, 40, 50, 52)]  # (x_min, y_min, x_max, y_max): around (10, 10) and (46, 43)


def test_two_blobs_one_per_instance_separate_both():
    s = _blob((64, 64), (10, 10), 3.0) + _blob((64, 64), (46, 43), 3.0, 0.8)
    assert M.instances_separated(s, BOXES) == 2
    assert M.instances_touched(s, BOXES) == 2
    masks = [M.box_to_mask(b, (64, 64)) for b in BOXES]
    assert M.instances_separated(s, masks) == 2  # masks or boxes alike
    centroids = M.separated_regions(s)
    assert len(centroids) == 2 and np.allclose(centroids[0], (10, 10), atol=0.5)


def test_one_blob_over_both_instances_touches_both_but_separates_at_most_one():
    s = _blob((64, 64), (28, 28), 22.0)  # broad: above 0.5 over both boxes, centroid between them
    assert M.instances_touched(s, BOXES) == 2
    assert M.instances_separated(s, BOXES) == 0
    off_centre = np.zeros((64, 64))
    off_centre[0:20, 0:22] = 1.0  # one region: a square over the first box ...
    off_centre[np.arange(20, 48), np.arange(20, 48)] = 1.0  # ... and a diagonal into the second
    assert M.instances_touched(off_centre, BOXES) == 2
    assert M.instances_separated(off_centre, BOXES) == 1  # its centroid lies in the first box


def test_two_blobs_in_the_same_instance_separate_one():
    s = _blob((64, 64), (8, 7), 1.5) + _blob((64, 64), (12, 14), 1.5)
    assert len(M.separated_regions(s)) == 2
    assert M.instances_separated(s, BOXES) == 1


def test_constant_and_nearly_constant_maps():
    assert M.instances_separated(np.full((64, 64), 3.0), BOXES) == 0  # flat: nothing above 0.5
    assert M.instances_touched(np.full((64, 64), 3.0), BOXES) == 0
    nearly = np.ones((64, 64))
    nearly[0, 0] = 0.0  # high everywhere but one pixel: touches every instance, one region
    assert M.instances_touched(nearly, BOXES) == 2
    assert M.instances_separated(nearly, BOXES) <= 1
    assert M.separated_regions(np.zeros((8, 8))) == []


def test_random_maps_rarely_separate():
    """Pixel noise percolates above 0.5 into one giant region; smooth noise lands in both boxes by chance
    only. Neither comes near a map that knows where the objects are."""
    rng = np.random.default_rng(0)
    noise = [M.instances_separated(rng.random((64, 64)), BOXES) for _ in range(20)]
    assert np.mean([n == 2 for n in noise]) <= 0.1
    assert np.mean([M.instances_touched(rng.random((64, 64)), BOXES) == 2 for _ in range(20)]) == 1.0
    cells = np.kron(rng.random((30, 8, 8)), np.ones((8, 8)))  # 8 x 8 cells of 8 px
    assert np.mean([M.instances_separated(c, BOXES) == 2 for c in cells]) <= 0.2


def test_the_two_largest_regions_are_used_and_matched_to_different_instances():
    s = np.zeros((64, 64))
    s[8:12, 8:12] = 1.0     # in the first box, 16 px
    s[42:46, 44:48] = 1.0   # in the second box, 16 px
    s[25:33, 25:33] = 1.0   # between the boxes, 64 px: the largest region
    assert M.instances_separated(s, BOXES) == 1
    assert M.instances_separated(s, BOXES, n_regions=3) == 2
    overlapping = [(0, 0, 20, 20), (4, 4, 16, 16)]  # a centroid in both boxes may serve either
    t = np.zeros((64, 64))
    t[9:11, 9:11] = 1.0
    t[17:19, 17:19] = 1.0  # only in the first box
    assert M.instances_separated(t, overlapping) == 2


def test_instance_arguments_are_checked():
    s = np.random.default_rng(1).random((16, 16))
    with pytest.raises(GLASError, match="instances must be masks of the map's shape"):
        M.instances_separated(s, [np.zeros((8, 8), bool)])
    with pytest.raises(GLASError, match="instances must be at least one instance"):
        M.instances_separated(s, [])
    with pytest.raises(GLASError, match="level must be a number in"):
        M.instances_separated(s, [(0, 0, 4, 4)], level=1.5)
    with pytest.raises(GLASError, match="n_regions must be a positive int"):
        M.instances_separated(s, [(0, 0, 4, 4)], n_regions=0)

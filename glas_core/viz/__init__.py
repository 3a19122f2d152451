"""Figures of GLAS explanations: overlays and the paper's panels (Figures 1, 10 and 11).

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot``, so no
global figure state is touched, no window opens and any backend (Agg on a server) works:
save with ``fig.savefig(path)``. matplotlib is imported inside the functions, never when
``glas_core`` is imported (install it with the ``viz`` extra).

A 1-D map is drawn under its signal (:func:`series`), a video map over a strip of its frames
(:func:`video_frames`), a detector's boxes or a segmenter's regions beside their maps
(:func:`detection_boxes`, :func:`segment_regions`). Images may be ``(H, W)``, ``(H, W, C)``
or ``(C, H, W)`` arrays of any supported namespace, uint8/uint16 or float. A map of a
different size than the image (a model's 224 x 224 input against the original photograph) is
stretched over the whole image, which is the inverse of resizing the image to the model's input.
"""

from ._figure import DEFAULT_ALPHA, DEFAULT_CMAP, as_display_image, draw_overlay
from .objects import detection_boxes, region_outline, segment_regions
from .panels import caption_words, multiscale_strip, overlay, recursive_iterations
from .signals import series, video_frames
from .volumes import region_ranking, volume_slices

__all__ = ["DEFAULT_ALPHA", "DEFAULT_CMAP", "as_display_image", "draw_overlay", "overlay", "multiscale_strip",
           "recursive_iterations", "caption_words", "volume_slices", "region_ranking", "series", "video_frames",
           "detection_boxes", "segment_regions", "region_outline"]

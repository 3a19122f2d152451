"""An HTML report of a ``glas explain DIR --out maps/`` output, opened in any browser, offline.

``glas report maps/ --out report.html`` (or :func:`build_report`) writes one HTML file with its
CSS, JavaScript and data inline, and its pictures in ``report_files/`` beside it:

* an index of every image: a thumbnail of the photo under its top class's map, the top class
  and its score, the true label and whether the model was wrong when labels are given;
  sortable by every column, filterable by class, score, "model was wrong" and file name;
* one view per image: the photo, the map over it with an opacity slider, a colour bar with
  the map's values, selectors for the target class, sigma and recursive iteration, the
  scales side by side from coarse to fine, the iterations side by side, and the settings
  with the forward-pass count; the arrow keys (or j / k) move to the next or previous image;
* for a detector's or a segmenter's output, one target per detection or region: its box (with
  its class and score) or its region's outline drawn over the photo and over its map.

Nothing is fetched from the network (a Content-Security-Policy in the page forbids it). The
maps are drawn with the colour map and normalisation of glas's PNG figures
(:data:`glas_core.viz.DEFAULT_CMAP`, each map min-max normalised on its own), as the page says.

Pictures beside the HTML, not inside it, by default: the page then loads in the same time for
ten images or ten thousand (the HTML holds only the index's data, about 1.5 kB per image), and
the browser reads a picture only when it scrolls into view (``loading="lazy"``). Copy the
folder with the file. ``embed=True`` (``--embed``) puts every picture inside the HTML instead,
one file to send, best for up to a few hundred images. Sizes are in the README.

Needs NumPy, pyarrow (the manifest) and matplotlib with Pillow (the pictures): the ``report``
extra.
"""

from .build import ReportSummary, build_report
from .manifest import ImageRecord, MapRow, load_maps, load_masks, read_output

__all__ = ["build_report", "ReportSummary", "read_output", "load_maps", "load_masks", "ImageRecord", "MapRow"]

"""Safe Location Planner engine.

The engine never imports Streamlit: the app, the ``safeplan`` command and the tests all drive
the same functions. Geometry is held in British National Grid (EPSG:27700, metres).
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

#: GDAL formats that read other files, run programs or reach the network. Uploads are
#: checked by content before GDAL sees them (geo.io); these are also switched off for this
#: process, which works when ``geo`` is imported before pyogrio registers GDAL's drivers.
GDAL_SKIPPED = ("OGR_VRT", "VRT", "GDALG", "GPSBabel", "ADBC", "HTTP", "WFS", "OAPIF",
                "OGCAPI", "CSW", "Carto", "AmigoCloud", "EEDA", "Elasticsearch", "NGW",
                "PLSCENES", "AIVector", "GML")
os.environ["GDAL_SKIP"] = " ".join(
    sorted(set(os.environ.get("GDAL_SKIP", "").split()) | set(GDAL_SKIPPED)))

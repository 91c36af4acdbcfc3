"""The stube demo gallery: one module per demo, mounted together by :mod:`demos.app`.

Each module defines its components (and flows) and nothing else; the mount
table lives in :mod:`demos.catalogue`. Templates are under
``demos/templates/demos/``.
"""

from pathlib import Path

#: The gallery's template folder (searched before stube's own).
TEMPLATES = Path(__file__).resolve().parent / "templates"

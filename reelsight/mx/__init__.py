"""The MXNet/GluonCV backend: GluonCV semantic segmentation and SageMaker built-in SSD artifacts.

This package is the only place in reelsight that imports ``mxnet`` or ``gluoncv``; it runs in
its own environment (``.venv-mxnet``, the segmentation image) because MXNet 1.9 needs
numpy 1.23 and gluoncv refuses to import beside torch >= 2. It reuses the torch-free parts of
reelsight (params, results, frames, errors, envvars) so that its output has the same schema
as the torch worker's. Entry point: ``python -m reelsight.mx``.
"""

from __future__ import annotations

BUILTIN_SSD = "builtin_ssd"

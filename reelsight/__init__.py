"""reelsight: computer vision on video, locally and on AWS."""

__version__ = "0.1.0"

"""``python -m reelsight.testing.colour_process process ...``: ``reelsight process`` with the
colour-box detector (``reelsight.testing.colour_boxes``) in place of the model, so a real
Processing host process finds and tracks the boxes of ``reelsight.testing.videos`` clips."""

from __future__ import annotations

import logging
import os
import sys


def main(argv: list[str]) -> int:
    from reelsight.cli import build_parser
    from reelsight.cli.process import settings_from_args
    from reelsight.testing.colour_boxes import ColourBoxes
    from reelsight.worker.processing import run_job

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_job(settings_from_args(args, os.environ), load=lambda _settings: ColourBoxes())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

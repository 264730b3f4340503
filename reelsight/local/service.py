"""What every process of the local stack does at start: its command line, its log format, and a
stop event that SIGTERM (the supervisor's stop) and SIGINT set."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def service_parser(description: str, *, config_help: str) -> argparse.ArgumentParser:
    """``--config FILE --host H --port P``: how the supervisor starts a loopback service."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help=config_help)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    return parser


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT (call from the main thread)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop

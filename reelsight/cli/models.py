"""``reelsight models``: the model registry."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the models reelsight can run",
        description="List every registered model: name, task, framework, preferred input size (WxH) "
        "and number of classes. MXNet models run only in the MXNet image.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (one object per model, with classes)")
    parser.set_defaults(func=models_command)


def models_command(args: argparse.Namespace) -> int:
    from reelsight.models.registry import list_specs

    specs = list_specs()
    if args.json:
        import json

        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "task": s.task,
                        "framework": s.framework,
                        "input_size": list(s.input_size),
                        "num_classes": s.num_classes,
                        "classes": list(s.classes),
                        "aliases": list(s.aliases),
                        "description": s.description,
                    }
                    for s in specs
                ],
                indent=2,
            )
        )
        return 0
    rows = [("NAME", "TASK", "FRAMEWORK", "INPUT", "CLASSES", "DESCRIPTION")]
    for s in specs:
        classes = str(s.num_classes) if s.classes else "from labels file"
        rows.append(
            (s.name, s.task, s.framework, f"{s.input_size[0]}x{s.input_size[1]}", classes, s.description)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0

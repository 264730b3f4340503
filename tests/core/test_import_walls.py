"""The core library never imports the CDK: importing all of it leaves the CDK modules unloaded."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import reelsight
skipped = ("reelsight.mx", "reelsight.__main__")
names = [m.name for m in pkgutil.walk_packages(reelsight.__path__, "reelsight.")
         if not m.name.startswith(skipped)]
for name in names:
    importlib.import_module(name)
cdk = sorted(m for m in ("aws_cdk", "constructs", "cdk_nag", "jsii") if m in sys.modules)
print(len(names), ",".join(cdk))
"""


def test_no_core_module_imports_the_cdk() -> None:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    count, _, loaded = result.stdout.strip().partition(" ")
    assert int(count) > 30  # the walk really visited the package
    assert loaded.strip() == "", f"CDK modules imported by the core library: {loaded}"

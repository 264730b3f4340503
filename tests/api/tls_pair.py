"""Key and certificate pairs made by the API host's boot script (containers/api/tls.sh), for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reelsight.testing.moto_server import free_port
from reelsight.tls import PinnedCertificate, certificate_from_file

REPO_ROOT = Path(__file__).resolve().parents[2]
TLS_SCRIPT = REPO_ROOT / "containers" / "api" / "tls.sh"
API_NAME = "api.reelsight.internal"
# The boot script publishes with the AWS CLI: the locked one of the client environment (mk/clients.mk).
SEARCH_PATH = f"{REPO_ROOT / '.venv-clients' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
HAS_AWS_CLI = shutil.which("aws", path=SEARCH_PATH) is not None


@dataclass
class Pair:
    dir: Path
    conf: Path

    @property
    def cert(self) -> Path:
        return self.dir / "cert.pem"

    @property
    def key(self) -> Path:
        return self.dir / "key.pem"

    def pinned(self) -> PinnedCertificate:
        return certificate_from_file(self.cert)

    def run(self, *args: str, conf: Path | None = None) -> str:
        """The boot script, as the host runs it (IMDS is not reachable here: a closed loopback port)."""
        done = subprocess.run(
            ["bash", str(TLS_SCRIPT), *args],
            env={**os.environ, "PATH": SEARCH_PATH, "REELSIGHT_TLS_CONF": str(conf or self.conf)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def write_conf(conf: Path, directory: Path, parameter: str = "") -> Path:
    """The settings file the boot script writes on the host (/etc/reelsight/tls.env)."""
    conf.write_text(
        f"REELSIGHT_TLS_DIR={directory}\nREELSIGHT_TLS_NAME={API_NAME}\n"
        f"REELSIGHT_TLS_PARAMETER={parameter}\nREELSIGHT_TLS_IMDS=http://127.0.0.1:{free_port()}\n"
    )
    return conf


def make_pair(root: Path, name: str, parameter: str = "") -> Pair:
    pair = Pair(dir=root / name, conf=write_conf(root / f"{name}.env", root / name, parameter))
    pair.run()
    return pair

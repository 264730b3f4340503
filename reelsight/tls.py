"""TLS to the API host: the server's certificate files, and clients that pin the host's certificate.

The API host makes its own key and a self-signed certificate when it boots (``containers/api/tls.sh``)
and publishes the certificate, never the key, in an SSM parameter that the CDK app declares. A client
trusts exactly that certificate: it is the only trust anchor of the client's SSL context, and the
host name is still checked against the certificate's names (the API's private DNS name, the
instance's own name and address, and ``localhost`` for the tunnel).

Standard library only (boto3 is imported where a parameter is read), so the worker image, the API
image and the user CLI share it.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.errors import ParamError, ReelsightError

# What the SSM parameter holds until the host has published its certificate (the CDK app writes it).
PENDING_CERTIFICATE = "pending: the API host publishes its TLS certificate here when it boots"
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"


class TlsError(ReelsightError):
    """The API's certificate is unavailable, malformed, or not the one the client pins."""

    exit_code = 5


@dataclass(frozen=True)
class PinnedCertificate:
    """The API host's certificate, as a client pins it; ``source`` says where it came from."""

    pem: str
    source: str

    def __post_init__(self) -> None:
        text = self.pem.strip()
        if text.startswith("pending"):
            raise TlsError(
                f"the API host has not published its certificate in {self.source} yet (it does so when it "
                "boots); wait until the host is running, then try again"
            )
        if text.count(_PEM_BEGIN) != 1 or not text.endswith(_PEM_END):
            raise TlsError(f"{self.source} does not hold exactly one PEM certificate")
        try:
            ssl.PEM_cert_to_DER_cert(text)
        except ValueError:
            raise TlsError(f"{self.source} does not hold a readable PEM certificate") from None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the certificate, as ``openssl x509 -fingerprint -sha256`` prints it."""
        digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(self.pem.strip())).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))

    def context(self) -> ssl.SSLContext:
        """An SSL context that trusts this certificate alone, and checks the host name against it."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.pem.strip())
        # The pinned certificate is the trust anchor itself, whatever its CA flag says.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context


def certificate_from_file(path: str | Path) -> PinnedCertificate:
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise TlsError(f"cannot read the API certificate {path}: {error}") from None
    return PinnedCertificate(text, source=str(path))


def certificate_from_parameter(ssm: Any, parameter: str) -> PinnedCertificate:
    """The certificate the host published in the SSM parameter ``parameter`` (``ssm`` is a boto3 client)."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except Exception as error:
        raise TlsError(f"cannot read the API certificate from SSM parameter {parameter}: {error}") from None
    return PinnedCertificate(str(value), source=f"the SSM parameter {parameter}")


def pinned_from_env(environ: Mapping[str, str], session: Any | None = None) -> PinnedCertificate | None:
    """The certificate to pin: ``REELSIGHT_API_CA_FILE``, else ``REELSIGHT_API_CERT_PARAMETER``, else None."""
    path = environ.get(envvars.API_CA_FILE, "").strip()
    if path:
        return certificate_from_file(path)
    parameter = environ.get(envvars.API_CERT_PARAMETER, "").strip()
    if not parameter:
        return None
    if session is None:
        import boto3

        session = boto3.session.Session()
    return certificate_from_parameter(session.client("ssm"), parameter)


def explain(error: BaseException, url: str, pinned: PinnedCertificate | None) -> str:
    """What went wrong talking TLS to ``url``, for a person (no traceback, no secret)."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ssl.SSLCertVerificationError):
        detail = reason.verify_message or str(reason)
        if pinned is None:
            return (
                f"the API at {url} presented a certificate this client does not trust ({detail}); pin the "
                f"host's certificate with {envvars.API_CA_FILE} or {envvars.API_CERT_PARAMETER}"
            )
        return (
            f"the API at {url} did not present the pinned certificate (sha256 {pinned.fingerprint} from "
            f"{pinned.source}): {detail}. If the host was replaced or its certificate rotated, fetch the "
            "certificate again (`reelsight api tunnel` does)"
        )
    if isinstance(reason, ssl.SSLError):
        return f"TLS with the API at {url} failed: {reason.reason or reason}"
    return f"cannot reach the API at {url}: {reason}"


def get_json(
    url: str,
    *,
    pinned: PinnedCertificate | None,
    token: str | None = None,
    timeout: float = 5.0,
) -> Any:
    """GET ``url`` (https verified against ``pinned``) and decode its JSON; TlsError when TLS fails."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    context = pinned.context() if pinned and url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, ssl.SSLError, OSError) as error:
        raise TlsError(explain(error, url, pinned)) from None


def server_files(
    cert_file: str | None, key_file: str | None, environ: Mapping[str, str]
) -> tuple[str, str] | None:
    """The API server's certificate and key files (options, else the environment); None for plain http.

    Both or neither; they are loaded once here, so a bad pair fails before the server starts."""
    cert = cert_file or environ.get(envvars.API_TLS_CERT_FILE, "").strip() or None
    key = key_file or environ.get(envvars.API_TLS_KEY_FILE, "").strip() or None
    if not cert and not key:
        return None
    if not cert or not key:
        raise ParamError(
            f"TLS needs both a certificate and a key: set --tls-cert and --tls-key "
            f"({envvars.API_TLS_CERT_FILE} and {envvars.API_TLS_KEY_FILE}), or neither for plain http"
        )
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ParamError(f"cannot load the TLS certificate {cert} with the key {key}: {error}") from None
    return cert, key

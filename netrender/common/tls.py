# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS on both ends: the master's server context, and how slaves and clients trust the master.

Both ends start from :func:`ssl.create_default_context`, so they get Python's
secure default ciphers, and refuse anything older than TLS 1.2. A slave or a
client trusts the master in one of two ways:

- a CA file: the certificate must chain to it and name the address used, as
  on the web. A self-signed certificate is its own CA, so its file works too;
- a pinned SHA-256 fingerprint of the master's certificate: nothing but that
  exact certificate is accepted, whatever its name or issuer. This suits a
  self-signed certificate on a farm reached by IP address.

Without either, an ``https://`` master must have a certificate the system trusts.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path
from typing import Any

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from .errors import InvalidConfig

MIN_VERSION = ssl.TLSVersion.TLSv1_2


def server_context(cert: Path, key: Path | None = None) -> ssl.SSLContext:
    """The master's context: ``cert`` is a PEM certificate, optionally followed by its chain.

    ``key`` may be left out when the key sits in the certificate file.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = MIN_VERSION
    try:
        context.load_cert_chain(Path(cert), Path(key) if key else None)
    except OSError as exc:  # ssl.SSLError is one: a bad PEM, a key that does not match
        raise InvalidConfig(f"cannot use the certificate {cert} with the key {key or cert}: {_reason(exc)}") from None
    return context


def client_context(ca_file: Path | None = None, *, pinned: bool = False) -> ssl.SSLContext:
    """A slave's or client's context: trust ``ca_file`` (else the system's CAs).

    ``pinned`` turns chain and name checks off because a fingerprint check
    replaces them: the caller must then check the fingerprint (urllib3's
    ``assert_fingerprint`` does, in :class:`MasterAdapter`).
    """
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except OSError as exc:
        raise InvalidConfig(f"cannot read the CA file {ca_file}: {_reason(exc)}") from None
    context.minimum_version = MIN_VERSION
    if pinned:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def fingerprint(cert: Path) -> str:
    """SHA-256 of the DER form of the first certificate in a PEM file: what ``--fingerprint`` takes."""
    try:
        text = Path(cert).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise InvalidConfig(f"cannot read the certificate {cert}: {_reason(exc)}") from None
    start = text.find(ssl.PEM_HEADER)
    end = text.find(ssl.PEM_FOOTER, start)
    if start < 0 or end < 0:
        raise InvalidConfig(f"{cert} holds no PEM certificate")
    try:
        der = ssl.PEM_cert_to_DER_cert(text[start:end + len(ssl.PEM_FOOTER)])
    except ValueError as exc:
        raise InvalidConfig(f"{cert} holds no valid PEM certificate: {exc}") from None
    return hashlib.sha256(der).hexdigest()


def parse_fingerprint(text: str) -> str:
    """64 hex digits, in either case, with or without colons (as ``openssl x509 -fingerprint`` prints)."""
    digits = text.strip().replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise InvalidConfig("a fingerprint is the SHA-256 of the master's certificate: 64 hex digits, colons allowed")
    return digits


class MasterAdapter(HTTPAdapter):
    """The transport for ``https://`` masters, holding the farm's trust settings.

    It decides certificate checks itself and ignores the ``verify`` each request
    carries, so neither a caller nor ``REQUESTS_CA_BUNDLE`` can weaken them.
    """

    def __init__(self, ca_file: Path | None = None, pinned: str | None = None) -> None:
        self.ca_file = Path(ca_file) if ca_file else None
        self.pinned = parse_fingerprint(pinned) if pinned else None
        super().__init__()  # calls init_poolmanager, which needs the two above

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["ssl_context"] = client_context(self.ca_file, pinned=bool(self.pinned and not self.ca_file))
        if self.pinned:
            pool_kwargs["assert_fingerprint"] = self.pinned  # compared with hmac.compare_digest
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    @property
    def verify(self) -> bool | str:
        if self.ca_file:
            return str(self.ca_file)
        return not self.pinned  # pinned: urllib3 checks the fingerprint instead of the chain

    def send(self, request: PreparedRequest, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Response:
        return super().send(request, stream=stream, timeout=timeout, verify=self.verify, cert=cert, proxies=proxies)


def describe_failure(exc: BaseException) -> str:
    """A TLS failure in words a farm operator can act on."""
    text = str(exc)
    if "Fingerprints did not match" in text:
        return "its certificate is not the one pinned with --fingerprint"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = re.search(r"certificate verify failed: ([^(')\"]+)", text)
        why = detail.group(1).strip() if detail else "untrusted certificate"
        return f"its certificate is not trusted ({why}); give --ca-file or --fingerprint"
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return "it does not speak HTTPS at this address (an http:// master?)"
    if "PROTOCOL_VERSION" in text or "UNSUPPORTED_PROTOCOL" in text:
        return "no common TLS version: TLS 1.2 or later is required"
    if "EOF occurred" in text or "UNEXPECTED_EOF" in text:
        return "the master closed the connection"
    return _reason(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)[:200]

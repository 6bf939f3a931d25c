"""tls_server_config of the exporter-toolkit web configuration as a Python SSLContext.

Names are Go's (crypto/tls), as node_exporter and redis_exporter read them, so one file
serves every exporter of a fleet; each is translated to OpenSSL's here.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exporter.collectors.base import ConfigError

VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

# Go's tls.CipherSuites() (the secure ones, configurable up to TLS 1.2) in OpenSSL's names.
CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}

# Go's ClientAuthType values. Python's ssl cannot ask for a certificate without verifying
# it, so the two that accept unverified certificates are refused rather than weakened or
# made stricter behind the user's back; exporter-toolkit itself calls them insecure.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_CLIENT_AUTH = {"RequestClientCert", "RequireAnyClientCert"}

KEYS = {
    "cert_file",
    "key_file",
    "cert",
    "key",
    "client_ca_file",
    "client_ca",
    "client_auth_type",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
}


def files_of(tls: Mapping[str, Any], base: Path) -> list[Path]:
    """The files the context is built from: a change to any of them is a reload."""
    return [_path(tls[k], base) for k in ("cert_file", "key_file", "client_ca_file") if tls.get(k)]


def build_context(tls: Mapping[str, Any], base: Path) -> ssl.SSLContext:
    """The server's SSLContext; ConfigError naming the field when something is wrong.

    Relative file names are read from the web configuration file's directory, as
    exporter-toolkit does.
    """
    unknown = sorted(set(tls) - KEYS)
    if unknown:
        raise ConfigError(f"tls_server_config: unknown field {unknown[0]!r}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_certificate(ctx, tls, base)
    ctx.minimum_version = _version(tls, "min_version", "TLS12")
    ctx.maximum_version = _version(tls, "max_version", "TLS13")
    if ctx.minimum_version > ctx.maximum_version:
        raise ConfigError("tls_server_config: min_version is above max_version")
    _client_auth(ctx, tls, base)
    suites = tls.get("cipher_suites") or []
    if not isinstance(suites, list):
        raise ConfigError("tls_server_config.cipher_suites: a list of Go cipher suite names")
    if suites:
        bad = [s for s in suites if s not in CIPHERS]
        if bad:
            raise ConfigError(
                f"tls_server_config.cipher_suites: unknown or insecure suite {bad[0]!r}; "
                f"use Go's names, like TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            )
        ctx.set_ciphers(":".join(CIPHERS[s] for s in suites))  # TLS 1.3's are fixed, as in Go
    if tls.get("prefer_server_cipher_suites", True):
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


def _path(value: object, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"tls_server_config: {value!r} is not a file name")
    return base / value  # an absolute value replaces base


def _pem(tls: Mapping[str, Any], inline: str, file_key: str, base: Path) -> str | None:
    """The PEM text of a field given inline or as a file (not both, as exporter-toolkit)."""
    if tls.get(inline) and tls.get(file_key):
        raise ConfigError(f"tls_server_config: give {inline} or {file_key}, not both")
    if tls.get(file_key):
        path = _path(tls[file_key], base)
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"tls_server_config.{file_key}: cannot read {path}: {getattr(exc, 'strerror', exc)}"
            ) from None
    value = tls.get(inline)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"tls_server_config.{inline}: a PEM string")
    return value or None


def _load_certificate(ctx: ssl.SSLContext, tls: Mapping[str, Any], base: Path) -> None:
    cert = _pem(tls, "cert", "cert_file", base)
    key = _pem(tls, "key", "key_file", base)
    if not cert or not key:
        raise ConfigError(
            "tls_server_config: needs a certificate and its key (cert_file, key_file)"
        )
    # load_cert_chain reads files only: inline PEM goes through a private temporary file
    with tempfile.TemporaryDirectory(prefix="painel-tls-") as tmp:
        cert_path, key_path = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_path.write_text(cert)
        key_path.touch(mode=0o600)
        key_path.write_text(key)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"tls_server_config: the certificate and key do not load together ({exc.reason or exc})"
            ) from None


def _version(tls: Mapping[str, Any], key: str, default: str) -> ssl.TLSVersion:
    name = tls.get(key) or default
    if name not in VERSIONS:
        raise ConfigError(f"tls_server_config.{key}: {name!r}; use one of {', '.join(VERSIONS)}")
    return VERSIONS[name]


def _client_auth(ctx: ssl.SSLContext, tls: Mapping[str, Any], base: Path) -> None:
    kind = tls.get("client_auth_type") or "NoClientCert"
    if kind in UNSUPPORTED_CLIENT_AUTH:
        raise ConfigError(
            f"tls_server_config.client_auth_type: {kind} (a certificate nobody verifies) is "
            "not supported; use RequireAndVerifyClientCert with client_ca_file"
        )
    if kind not in CLIENT_AUTH:
        raise ConfigError(
            f"tls_server_config.client_auth_type: {kind!r}; use one of {', '.join(CLIENT_AUTH)}"
        )
    ca = _pem(tls, "client_ca", "client_ca_file", base)
    if CLIENT_AUTH[kind] != ssl.CERT_NONE and not ca:
        raise ConfigError(
            f"tls_server_config: client_auth_type {kind} needs client_ca_file, the CA that "
            "signs the clients' certificates"
        )
    if tls.get("client_allowed_sans") and CLIENT_AUTH[kind] != ssl.CERT_REQUIRED:
        raise ConfigError(
            "tls_server_config.client_allowed_sans needs client_auth_type RequireAndVerifyClientCert"
        )
    if ca:
        try:
            ctx.load_verify_locations(cadata=ca)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"tls_server_config: the client CA does not load ({exc})") from None
    ctx.verify_mode = CLIENT_AUTH[kind]


def allowed_sans(tls: Mapping[str, Any]) -> frozenset[str]:
    sans = tls.get("client_allowed_sans") or []
    if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
        raise ConfigError("tls_server_config.client_allowed_sans: a list of names")
    return frozenset(sans)


def peer_sans(cert: Mapping[str, Any] | None) -> set[str]:
    """Every subjectAltName value (DNS, IP, email, URI) of a verified peer certificate."""
    return {value.strip() for _kind, value in (cert or {}).get("subjectAltName", ())}

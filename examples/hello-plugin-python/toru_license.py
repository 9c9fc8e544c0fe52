"""Verify Toru licence keys offline, in Python: the twin of the Rust SDK's ``license`` module.

A plugin vendor sells a plugin to one Toru installation and gives its administrator a licence
key. The plugin checks, without any network, that the key was issued by its vendor, for this
plugin, for this installation (``ctx.instance_id`` from ``lifecycle.init``), and has not expired.
``docs/licensing.md`` in the Toru repository is the normative description;
``docs/licensing/test-vectors.json`` holds keys with their expected verdicts, checked by this
module's tests and by the Rust SDK's, so the two cannot disagree.

::

    import toru_license

    VENDOR = toru_license.VerifyingKey.ed25519_base64url("IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI")

    try:
        licence = toru_license.verify(key, VENDOR, "acme-backup", ctx.instance_id)
    except toru_license.LicenseError as e:
        toru.warning(str(e))    # e.kind is e.g. "wrong_instance"; str(e) says what to do

HMAC-SHA256 (``HS256``) needs only the standard library. Ed25519 (``EdDSA``, recommended: the
plugin ships only a public key) needs the ``cryptography`` package (Debian:
``apt install python3-cryptography``); building an Ed25519 verifier without it raises
:class:`MissingDependency` naming the package. Python 3.11 or newer.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = [
    "PREFIX", "MAX_KEY_LEN", "FORMAT_VERSION", "CLOCK_SKEW", "MAX_PAYLOAD_DEPTH", "ALGORITHMS",
    "ERROR_KINDS", "License", "LicenseError", "VerifyingKey", "VerifyingKeyError",
    "MissingDependency", "verify", "decode_unverified",
]

#: What every key starts with: the format name and version, and the first separator.
PREFIX = "TORU1."
#: The largest key, in bytes, a verifier looks at; a longer input is refused before decoding.
MAX_KEY_LEN = 8 * 1024
#: The payload format version (``v``) this module understands.
FORMAT_VERSION = 1
#: Seconds a key stays valid after its ``exp``, for clocks that run ahead of the vendor's.
CLOCK_SKEW = 300
#: The deepest nesting of arrays and objects in a payload (the payload object is depth 1).
MAX_PAYLOAD_DEPTH = 32
#: ``alg`` name -> signature length in bytes.
ALGORITHMS = {"HS256": 32, "EdDSA": 64}

#: Every error kind, in verification order. ``missing`` is only for "no key at all".
ERROR_KINDS = (
    "missing", "empty", "too_large", "bad_prefix", "malformed", "bad_payload",
    "unsupported_version", "unknown_algorithm", "algorithm_mismatch", "bad_signature",
    "wrong_plugin", "wrong_instance", "expired",
)

_TRIMMED = " \t\r\n"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_U64_MAX = 2**64 - 1
_MEMBERS = {"v", "alg", "plugin", "instance", "licensee", "iat", "exp", "features"}


class LicenseError(Exception):
    """A licence key was refused. ``kind`` is one of :data:`ERROR_KINDS`; the message says what
    is wrong and what to do about it, for the administrator."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __repr__(self) -> str:
        return f"LicenseError({self.kind!r}, {str(self)!r})"


class VerifyingKeyError(ValueError):
    """The plugin's embedded verifying key is wrong: a bug in the plugin, not in a licence key."""


class MissingDependency(ImportError):
    """Ed25519 verification needs the ``cryptography`` package, which is not installed."""


@dataclass(frozen=True)
class License:
    """A verified licence: the key's payload. Field names follow the Rust SDK's ``License``."""

    version: int
    algorithm: str
    plugin: str
    instance: str
    licensee: str
    issued_at: int
    expires_at: Optional[int] = None
    features: tuple = field(default_factory=tuple)

    def has_feature(self, feature: str) -> bool:
        """Whether the licence unlocks ``feature``."""
        return feature in self.features

    def check_expiry(self, now: Optional[float] = None) -> None:
        """Raises ``LicenseError("expired")`` once ``now >= exp + CLOCK_SKEW``; for long-running
        plugins that check again while they run."""
        if self.expires_at is None:
            return
        now_s = _unix_seconds(now)
        if now_s >= self.expires_at + CLOCK_SKEW:
            raise LicenseError(
                "expired",
                f"the licence key expired at {_utc(self.expires_at)} (it is now {_utc(now_s)}, "
                f"and {CLOCK_SKEW} s are allowed for clock skew); ask the vendor to renew it")

    def to_payload(self) -> dict:
        """The canonical payload object (``exp`` and ``features`` left out when absent), as the
        test vectors write it."""
        out: dict[str, Any] = {"v": self.version, "alg": self.algorithm, "plugin": self.plugin,
                               "instance": self.instance, "licensee": self.licensee,
                               "iat": self.issued_at}
        if self.expires_at is not None:
            out["exp"] = self.expires_at
        if self.features:
            out["features"] = list(self.features)
        return out


class VerifyingKey:
    """What a plugin checks signatures with; one algorithm only. Build it once, at start, with
    :meth:`hmac`, :meth:`hmac_base64url`, :meth:`ed25519` or :meth:`ed25519_base64url`."""

    def __init__(self, algorithm: str, material: Any) -> None:
        if algorithm not in ALGORITHMS:
            raise VerifyingKeyError(f"unknown algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._material = material

    def __repr__(self) -> str:
        if self.algorithm == "HS256":
            return f"VerifyingKey('HS256', <{len(self._material)} secret bytes>)"
        return f"VerifyingKey('EdDSA', {self._public_b64!r})"

    @classmethod
    def hmac(cls, secret: bytes) -> VerifyingKey:
        """An HMAC-SHA256 verifier. Whoever extracts the secret from the plugin can mint keys."""
        if not isinstance(secret, (bytes, bytearray)) or not secret:
            raise VerifyingKeyError("the HMAC secret must be non-empty bytes")
        return cls("HS256", bytes(secret))

    @classmethod
    def hmac_base64url(cls, secret: str) -> VerifyingKey:
        """An HMAC-SHA256 verifier from the unpadded base64url ``secret`` of a
        ``toru-license keygen --alg hmac`` file."""
        try:
            raw = _b64url_decode(secret.strip(_TRIMMED))
        except ValueError as e:
            raise VerifyingKeyError(f"the HMAC secret is not base64url: {e}") from None
        return cls.hmac(raw)

    @classmethod
    def ed25519(cls, public_key: bytes) -> VerifyingKey:
        """An Ed25519 verifier from the vendor's 32-byte public key. Needs ``cryptography``."""
        ed = _ed25519_module()
        if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
            raise VerifyingKeyError("the Ed25519 public key must be 32 bytes")
        try:
            key = ed.Ed25519PublicKey.from_public_bytes(bytes(public_key))
        except ValueError as e:
            raise VerifyingKeyError(f"the Ed25519 public key is invalid: {e}") from None
        made = cls("EdDSA", key)
        made._public_b64 = _b64url_encode(bytes(public_key))
        return made

    @classmethod
    def ed25519_base64url(cls, public_key: str) -> VerifyingKey:
        """An Ed25519 verifier from the unpadded base64url public key ``toru-license keygen``
        prints."""
        try:
            raw = _b64url_decode(public_key.strip(_TRIMMED))
        except ValueError as e:
            raise VerifyingKeyError(f"the Ed25519 public key is not base64url: {e}") from None
        return cls.ed25519(raw)

    def _check(self, signed: bytes, signature: bytes) -> None:
        expected = ALGORITHMS[self.algorithm]
        if len(signature) != expected:
            raise LicenseError(
                "bad_signature",
                f"the licence key's signature is invalid: the signature is {len(signature)} "
                f"bytes, {self.algorithm} needs {expected}")
        if self.algorithm == "HS256":
            mac = hmac.new(self._material, signed, hashlib.sha256).digest()
            valid = hmac.compare_digest(mac, signature)
        else:
            from cryptography.exceptions import InvalidSignature
            try:
                self._material.verify(signature, signed)
                valid = True
            except InvalidSignature:
                valid = False
        if not valid:
            raise LicenseError(
                "bad_signature",
                "the licence key's signature is invalid: it was not issued with this plugin's "
                "vendor key, or it was altered")


def verify(key: Optional[str], verifier: VerifyingKey, plugin_id: str, instance_id: str,
           now: Optional[float] = None) -> License:
    """Verifies a licence key, offline, in the order of ``docs/licensing.md``: size, structure
    and encoding, payload, version, algorithm, signature, plugin id, instance id, expiry. Raises
    :class:`LicenseError` for the first failure; returns the :class:`License` otherwise.

    ``key`` is the key as installed (surrounding whitespace is ignored; ``None`` means no key,
    kind ``missing``); ``verifier`` the vendor's key compiled into the plugin; ``plugin_id`` this
    plugin's id; ``instance_id`` this installation's (``ctx.instance_id``); ``now`` Unix seconds,
    the current time by default."""
    if key is None:
        raise LicenseError(
            "missing", "no licence key is installed for this plugin; ask the plugin's vendor for "
            "one, issued for this Toru instance")
    signed, signature, licence = _decode(key)
    if licence.algorithm != verifier.algorithm:
        raise LicenseError(
            "algorithm_mismatch",
            f"the licence key is signed with {licence.algorithm}, but this plugin accepts only "
            f"{verifier.algorithm} keys; ask the vendor for an {verifier.algorithm} key")
    verifier._check(signed, signature)
    if licence.plugin != plugin_id:
        raise LicenseError(
            "wrong_plugin",
            f"the licence key was issued for plugin {licence.plugin!r}, this is plugin "
            f"{plugin_id!r}")
    if licence.instance != instance_id:
        raise LicenseError(
            "wrong_instance",
            f"the licence key was issued for instance {licence.instance}, this is instance "
            f"{instance_id}; ask the vendor for a key for this instance")
    licence.check_expiry(now)
    return licence


def decode_unverified(key: str) -> License:
    """Decodes a key **without verifying it**. Anyone can write a key that decodes: use this only
    to show what a key claims, never to decide anything."""
    return _decode(key)[2]


def _decode(key: str) -> tuple[bytes, bytes, License]:
    if not isinstance(key, str):
        raise TypeError(f"a licence key is a str, not {type(key).__name__}")
    if len(key) > MAX_KEY_LEN or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LEN:
        size = len(key.encode("utf-8", "surrogatepass"))
        raise LicenseError(
            "too_large", f"the licence key is {size} bytes, more than the {MAX_KEY_LEN} a key "
            "may have; paste only the key, exactly as issued")
    key = key.strip(_TRIMMED)
    if not key:
        raise LicenseError(
            "empty", 'the licence key is empty; paste the whole key, it starts with "TORU1."')
    if not key.startswith(PREFIX):
        raise LicenseError("bad_prefix",
                           'this is not a Toru licence key: it must start with "TORU1."')
    parts = key[len(PREFIX):].split(".")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise _malformed("expected TORU1.<payload>.<signature>")
    payload_b64, signature_b64 = parts
    try:
        payload = _b64url_decode(payload_b64)
    except ValueError as e:
        raise _malformed(f"the payload is not base64url: {e}") from None
    try:
        signature = _b64url_decode(signature_b64)
    except ValueError as e:
        raise _malformed(f"the signature is not base64url: {e}") from None
    licence = _parse_payload(payload)
    return (PREFIX + payload_b64).encode("ascii"), signature, licence


def _malformed(reason: str) -> LicenseError:
    return LicenseError("malformed",
                        f"the licence key is damaged ({reason}); copy it again, exactly as issued")


def _bad_payload(reason: str) -> LicenseError:
    return LicenseError("bad_payload",
                        f"the licence key's payload is invalid ({reason}); ask the vendor for a "
                        "new key")


def _b64url_decode(text: str) -> bytes:
    """Unpadded, canonical base64url: only ``A-Z a-z 0-9 - _``, no ``=``, unused bits zero."""
    if not _B64URL.fullmatch(text):
        raise ValueError("a character outside A-Z a-z 0-9 - _")
    if len(text) % 4 == 1:
        raise ValueError(f"{len(text)} characters cannot be base64")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as e:
        raise ValueError(str(e)) from None
    if _b64url_encode(raw) != text:
        raise ValueError("the unused bits of the last character are not zero")
    return raw


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# --- The payload: strict JSON, then the version, then the version-1 shape. ----------------------
#
# Every rule here matches the Rust SDK's parser (serde_json) so that both give the same verdict
# on the same bytes: no duplicate member names at any depth, no NaN or Infinity, no number that
# overflows a double, no unpaired UTF-16 surrogate, at most MAX_PAYLOAD_DEPTH levels.

class _Refused(ValueError):
    pass


def _unique_members(pairs: list) -> dict:
    out = {}
    for name, value in pairs:
        if name in out:
            raise _Refused(f"the member {name!r} appears twice")
        out[name] = value
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused("a number out of range")
    return value


def _finite_int(text: str) -> int | float:
    # serde_json reads an integer too large for 64 bits as a double, and refuses one that
    # overflows even that; checking the double first also avoids int()'s digit limit.
    if math.isinf(float(text)):
        raise _Refused("a number out of range")
    if text == "-0":
        return -0.0  # serde_json reads -0 as the double -0.0: not an integer, as here
    return int(text)


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _check_tree(value: Any) -> None:
    """Depth and strings of a parsed payload, without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth > MAX_PAYLOAD_DEPTH:
            raise _Refused(f"nested deeper than {MAX_PAYLOAD_DEPTH} levels")
        if isinstance(item, dict):
            for name, child in item.items():
                _check_str(name)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_str(item)


def _check_str(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("a string holds an unpaired UTF-16 surrogate") from None


def _parse_payload(raw: bytes) -> License:
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_unique_members, parse_float=_finite_float,
                         parse_int=_finite_int, parse_constant=_no_constants)
        _check_tree(obj)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError included
        raise _bad_payload(f"not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise _bad_payload("not a JSON object")
    if "v" not in obj:
        raise _bad_payload('it has no "v"')
    v = obj["v"]
    if not (type(v) is int and v == FORMAT_VERSION):
        raise LicenseError(
            "unsupported_version",
            f"the licence key has format version {_json(v)}, this plugin understands version "
            f"{FORMAT_VERSION}; update the plugin or ask the vendor for a version-"
            f"{FORMAT_VERSION} key")
    unknown = sorted(set(obj) - _MEMBERS)
    if unknown:
        raise _bad_payload(f"unknown member {unknown[0]!r}")
    for name in ("alg", "plugin", "instance", "licensee"):
        if name not in obj:
            raise _bad_payload(f"missing member {name!r}")
        if type(obj[name]) is not str:
            raise _bad_payload(f"{name!r} must be a string")
    if "iat" not in obj:
        raise _bad_payload("missing member 'iat'")
    if not _is_u64(obj["iat"]):
        raise _bad_payload("'iat' must be an integer from 0 to 2^64-1")
    exp = obj.get("exp")
    if exp is not None and not _is_u64(exp):
        raise _bad_payload("'exp' must be an integer from 0 to 2^64-1, or null")
    features = obj.get("features")
    if features is not None and not (
            type(features) is list and all(type(f) is str for f in features)):
        raise _bad_payload("'features' must be an array of strings, or null")
    alg = obj["alg"]
    if alg not in ALGORITHMS:
        raise LicenseError(
            "unknown_algorithm",
            f"the licence key uses the signature algorithm {_json(alg)}, which is not one of "
            "HS256 and EdDSA; ask the vendor for a new key")
    return License(version=FORMAT_VERSION, algorithm=alg, plugin=obj["plugin"],
                   instance=obj["instance"], licensee=obj["licensee"], issued_at=obj["iat"],
                   expires_at=exp, features=tuple(features or ()))


def _is_u64(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _U64_MAX


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _unix_seconds(now: Optional[float]) -> int:
    if now is None:
        now = time.time()
    return max(0, math.floor(now))


def _utc(secs: int) -> str:
    try:
        return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{secs} (Unix seconds)"


_ed25519 = None


def _ed25519_module() -> Any:
    global _ed25519
    if _ed25519 is None:
        try:
            from cryptography.hazmat.primitives.asymmetric import ed25519
        except ImportError as e:
            raise MissingDependency(
                "Ed25519 licence keys need the Python package 'cryptography' "
                "(Debian: apt install python3-cryptography; elsewhere: pip install cryptography)"
            ) from e
        _ed25519 = ed25519
    return _ed25519

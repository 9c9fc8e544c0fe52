"""toru_license.py against the shared vectors of docs/licensing/test-vectors.json (the Rust SDK
runs the same ones), a table of bad input, and randomized keys that must never crash it.

The Ed25519 vectors need the 'cryptography' package (Debian: python3-cryptography). Without it
they FAIL, naming the package: a missing dependency must not pass for a green suite.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import sys
import unittest
from unittest import mock

from toru_test_support import REPO

import toru_license as tl
from toru_license import CLOCK_SKEW, MAX_KEY_LEN, License, LicenseError, VerifyingKey

VECTORS = json.loads((REPO / "docs" / "licensing" / "test-vectors.json").read_text("utf-8"))

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
except ImportError:
    Ed25519PrivateKey = None

NO_CRYPTOGRAPHY = ("the Python package 'cryptography' is not installed, so Ed25519 licence keys "
                   "cannot be verified: apt install python3-cryptography (or pip install "
                   "cryptography)")

PLUGIN = "acme-backup"
INSTANCE = "0b8e0b3e-5d2a-4c41-9a53-2f1f1e6f7a10"
OTHER_INSTANCE = "5f0c2a4e-8b1d-4c6f-9e2a-7d3b1c0e9f48"
SECRET = b"a test secret of thirty-two bytes"
IAT = 1_767_225_600  # 2026-01-01T00:00:00Z
EXP = IAT + 86_400


def verifier_of(spec: dict) -> VerifyingKey:
    if spec["alg"] == "HS256":
        return VerifyingKey.hmac_base64url(spec["secret"])
    return VerifyingKey.ed25519_base64url(spec["public_key"])


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_hs256(payload: bytes, secret: bytes = SECRET) -> str:
    signed = "TORU1." + b64(payload)
    return signed + "." + b64(hmac.new(secret, signed.encode(), hashlib.sha256).digest())


def payload(**changes) -> bytes:
    p = {"v": 1, "alg": "HS256", "plugin": PLUGIN, "instance": INSTANCE, "licensee": "Ada",
         "iat": IAT, "exp": EXP, "features": ["pro"]}
    p.update(changes)
    return json.dumps({k: v for k, v in p.items() if v is not ...},
                      separators=(",", ":")).encode()


def kind_of(key, verifier: VerifyingKey, now: float = IAT, plugin: str = PLUGIN,
            instance: str = INSTANCE) -> str:
    try:
        tl.verify(key, verifier, plugin, instance, now)
    except LicenseError as e:
        return e.kind
    return "ok"


class VectorTest(unittest.TestCase):
    def run_vectors(self, alg: str) -> None:
        vectors = [v for v in VECTORS["vectors"] if v["verifier"]["alg"] == alg]
        self.assertGreater(len(vectors), 10)
        for v in vectors:
            with self.subTest(v["name"]):
                verifier = verifier_of(v["verifier"])
                try:
                    licence = tl.verify(v["key"], verifier, v["plugin"], v["instance"], v["now"])
                except LicenseError as e:
                    self.assertEqual(e.kind, v["expect"], f"{v['name']}: {e}")
                else:
                    self.assertEqual(v["expect"], "ok", f"{v['name']} was accepted")
                    self.assertEqual(licence.to_payload(), v["license"])

    def test_hs256_vectors(self) -> None:
        self.run_vectors("HS256")

    def test_eddsa_vectors(self) -> None:
        if Ed25519PrivateKey is None:
            self.fail(NO_CRYPTOGRAPHY)
        self.run_vectors("EdDSA")

    def test_the_vectors_cover_every_error_kind_and_both_algorithms(self) -> None:
        expects = {v["expect"] for v in VECTORS["vectors"]}
        for kind in tl.ERROR_KINDS[1:]:  # "missing" is no key at all, not a key string
            self.assertIn(kind, expects, f"no vector expects {kind}")
        self.assertEqual(VECTORS["error_kinds"], list(tl.ERROR_KINDS[1:]))
        self.assertEqual(VECTORS["max_key_bytes"], MAX_KEY_LEN)
        self.assertEqual(VECTORS["clock_skew_seconds"], CLOCK_SKEW)
        self.assertEqual(VECTORS["max_payload_depth"], tl.MAX_PAYLOAD_DEPTH)
        by_name = {v["name"]: v["expect"] for v in VECTORS["vectors"]}
        for alg in ("hs256", "eddsa"):  # T24-T27
            for suffix, expect in [("valid", "ok"), ("valid-no-expiry", "ok"),
                                   ("tampered-payload", "bad_signature"),
                                   ("signed-by-another-vendor", "bad_signature"),
                                   ("wrong-instance", "wrong_instance"), ("expired", "expired"),
                                   ("skew-just-inside", "ok"), ("skew-just-outside", "expired")]:
                self.assertEqual(by_name.get(f"{alg}-{suffix}"), expect, f"{alg}-{suffix}")


class BadInputTest(unittest.TestCase):
    def test_each_bad_input_has_its_own_kind(self) -> None:
        hs = VerifyingKey.hmac(SECRET)
        valid = sign_hs256(payload())
        body, signature = valid[len("TORU1."):].split(".")
        table = [
            ("empty", "", "empty"),
            ("blank", "\n", "empty"),
            ("truncated", valid[:-3], "bad_signature"),
            ("truncated into the payload", valid[:30], "malformed"),
            ("wrong prefix", valid.replace("TORU1", "TORU9", 1), "bad_prefix"),
            ("no prefix", f"{body}.{signature}", "bad_prefix"),
            ("bad base64", f"TORU1.{body}.{signature}!", "malformed"),
            ("huge", "T" * (1 << 20), "too_large"),
            ("one byte over", valid + " " * (MAX_KEY_LEN + 1 - len(valid)), "too_large"),
            ("multi-byte characters over", "é" * (MAX_KEY_LEN // 2 + 1), "too_large"),
            ("unknown version", sign_hs256(payload(v=2)), "unsupported_version"),
            ("unknown algorithm", sign_hs256(payload(alg="ES256")), "unknown_algorithm"),
            ("unknown member", sign_hs256(payload(x=1)), "bad_payload"),
            ("wrong plugin", sign_hs256(payload(plugin="acme-other")), "wrong_plugin"),
            ("wrong instance", sign_hs256(payload(instance=OTHER_INSTANCE)), "wrong_instance"),
            ("another secret", sign_hs256(payload(), b"x" * 32), "bad_signature"),
        ]
        for name, key, expected in table:
            with self.subTest(name):
                self.assertEqual(kind_of(key, hs), expected)
        self.assertEqual(kind_of(None, hs), "missing")
        # Skew: just inside and just outside; exp itself is still inside the allowance.
        self.assertEqual(kind_of(valid, hs, EXP - 1), "ok")
        self.assertEqual(kind_of(valid, hs, EXP), "ok")
        self.assertEqual(kind_of(valid, hs, EXP + CLOCK_SKEW - 1), "ok")
        self.assertEqual(kind_of(valid, hs, EXP + CLOCK_SKEW), "expired")
        self.assertEqual(kind_of(valid, hs, EXP + CLOCK_SKEW - 0.5), "ok", "now is floored")
        self.assertEqual(kind_of(valid, hs, -5), "ok", "a clock before 1970 counts as 1970")
        forever = sign_hs256(payload(exp=...))
        self.assertEqual(kind_of(forever, hs, 2**62), "ok")

    def test_an_hmac_key_is_refused_by_an_ed25519_verifier_and_back(self) -> None:
        if Ed25519PrivateKey is None:
            self.fail(NO_CRYPTOGRAPHY)
        private = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
        public = private.public_key().public_bytes_raw() if hasattr(
            private.public_key(), "public_bytes_raw") else _raw_public(private)
        ed = VerifyingKey.ed25519(public)
        self.assertEqual(kind_of(sign_hs256(payload()), ed), "algorithm_mismatch")
        # The classic confusion: an HS256 key whose secret is the Ed25519 public key.
        self.assertEqual(kind_of(sign_hs256(payload(), public), ed), "algorithm_mismatch")
        signed = "TORU1." + b64(payload(alg="EdDSA"))
        key = signed + "." + b64(private.sign(signed.encode()))
        self.assertEqual(kind_of(key, ed), "ok")
        self.assertEqual(kind_of(key, VerifyingKey.hmac(SECRET)), "algorithm_mismatch")

    def test_messages_say_what_is_wrong_and_what_to_do(self) -> None:
        hs = VerifyingKey.hmac(SECRET)
        with self.assertRaises(LicenseError) as caught:
            tl.verify(sign_hs256(payload(instance=OTHER_INSTANCE)), hs, PLUGIN, INSTANCE, IAT)
        self.assertEqual(
            str(caught.exception),
            f"the licence key was issued for instance {OTHER_INSTANCE}, this is instance "
            f"{INSTANCE}; ask the vendor for a key for this instance")
        with self.assertRaises(LicenseError) as caught:
            tl.verify(sign_hs256(payload()), hs, PLUGIN, INSTANCE, EXP + 3600)
        self.assertEqual(
            str(caught.exception),
            "the licence key expired at 2026-01-02T00:00:00Z (it is now 2026-01-02T01:00:00Z, "
            "and 300 s are allowed for clock skew); ask the vendor to renew it")

    def test_verifying_keys_are_checked_and_never_printed(self) -> None:
        with self.assertRaises(tl.VerifyingKeyError):
            VerifyingKey.hmac_base64url("not base64!")
        with self.assertRaises(tl.VerifyingKeyError):
            VerifyingKey.hmac(b"")
        self.assertNotIn("thirty", repr(VerifyingKey.hmac(SECRET)))
        if Ed25519PrivateKey is not None:
            with self.assertRaises(tl.VerifyingKeyError):
                VerifyingKey.ed25519_base64url("AAAA")

    def test_a_missing_cryptography_package_is_named(self) -> None:
        with mock.patch.dict(sys.modules, {"cryptography.hazmat.primitives.asymmetric": None}), \
                mock.patch.object(tl, "_ed25519", None):
            with self.assertRaises(tl.MissingDependency) as caught:
                VerifyingKey.ed25519(bytes(32))
        self.assertIn("python3-cryptography", str(caught.exception))
        self.assertIsInstance(caught.exception, ImportError)

    def test_licence_helpers(self) -> None:
        licence = tl.verify(sign_hs256(payload()), VerifyingKey.hmac(SECRET), PLUGIN, INSTANCE,
                            IAT)
        self.assertEqual(licence, License(1, "HS256", PLUGIN, INSTANCE, "Ada", IAT, EXP,
                                          ("pro",)))
        self.assertTrue(licence.has_feature("pro"))
        self.assertFalse(licence.has_feature("Pro"))
        licence.check_expiry(IAT)
        with self.assertRaises(LicenseError):
            licence.check_expiry(EXP + CLOCK_SKEW)
        self.assertEqual(tl.decode_unverified(sign_hs256(payload(), b"y" * 32)), licence)
        with self.assertRaises(TypeError):
            tl.verify(b"TORU1.x.y", VerifyingKey.hmac(SECRET), PLUGIN, INSTANCE)


def _raw_public(private) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return private.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.= \t\n+/é\x00\ud800"


class RandomizedTest(unittest.TestCase):
    """No input makes the verifier raise anything but LicenseError (seeded, so reproducible)."""

    def setUp(self) -> None:
        self.rng = random.Random(20260101)
        self.hs = VerifyingKey.hmac(SECRET)

    def assert_refused_cleanly(self, key: str) -> None:
        try:
            tl.verify(key, self.hs, PLUGIN, INSTANCE, IAT)
        except LicenseError as e:
            self.assertIn(e.kind, tl.ERROR_KINDS)

    def test_arbitrary_text(self) -> None:
        for _ in range(2000):
            n = self.rng.randrange(0, 300)
            text = "".join(self.rng.choice(ALPHABET) for _ in range(n))
            self.assert_refused_cleanly(text)
            self.assert_refused_cleanly("TORU1." + text)

    def test_arbitrary_signed_payloads(self) -> None:
        pieces = ['{', '}', '[', ']', ',', ':', '"v"', '"alg"', '"HS256"', '"iat"', '"exp"',
                  '"plugin"', f'"{PLUGIN}"', '"instance"', f'"{INSTANCE}"', '"licensee"',
                  '"features"', '1', '-1', '1.0', '1e400', 'null', 'true', 'NaN', '"\\ud800"',
                  ' ', '9' * 30, '"x"']
        for _ in range(3000):
            text = "".join(self.rng.choice(pieces) for _ in range(self.rng.randrange(0, 40)))
            self.assert_refused_cleanly(sign_hs256(text.encode()))
        for _ in range(500):
            raw = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(0, 200)))
            self.assert_refused_cleanly(sign_hs256(raw))

    def test_an_edited_key_is_refused_or_unchanged(self) -> None:
        key = sign_hs256(payload())
        original = tl.verify(key, self.hs, PLUGIN, INSTANCE, IAT)
        for _ in range(3000):
            chars = list(key)
            for _ in range(self.rng.randrange(1, 4)):
                op = self.rng.randrange(3)
                i = self.rng.randrange(len(chars) + (op == 1))
                if op == 0 and chars:
                    chars[min(i, len(chars) - 1)] = self.rng.choice(ALPHABET)
                elif op == 1:
                    chars.insert(i, self.rng.choice(ALPHABET))
                elif chars:
                    del chars[min(i, len(chars) - 1)]
            edited = "".join(chars)
            try:
                licence = tl.verify(edited, self.hs, PLUGIN, INSTANCE, IAT)
            except LicenseError:
                continue
            self.assertEqual(edited.strip(" \t\r\n"), key)
            self.assertEqual(licence, original)


if __name__ == "__main__":
    unittest.main()

//! The `X-Toru-Signature-256` header: `sha256=` and the lowercase hex HMAC-SHA256 of the exact
//! body bytes, keyed with the webhook's secret — GitHub's convention, so receivers can reuse
//! what they already verify GitHub's webhooks with.

use hmac::{KeyInit as _, Mac as _};

/// The header's value for `body` signed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .expect("HMAC accepts a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut value = String::with_capacity(7 + 2 * digest.len());
    value.push_str("sha256=");
    for byte in digest {
        value.push_str(&format!("{byte:02x}"));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_rfc_4231_test_case_2_says() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

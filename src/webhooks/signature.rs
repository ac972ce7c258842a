//! Standard Webhooks signatures (standardwebhooks.com): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` with the secret's bytes, sent as
//! `webhook-signature: v1,<base64>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;

/// The prefix the specification writes secrets with.
const PREFIX: &str = "whsec_";

/// A signing secret: the bytes of a `whsec_<base64>` string.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    /// Never printed: settings are logged with `{:?}` in places.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// Reads `whsec_<base64>`; at least 24 bytes (the specification asks
    /// for 24 to 64), so a typo or a placeholder stops the start-up.
    pub fn parse(text: &str) -> anyhow::Result<Secret> {
        let encoded = text.trim().strip_prefix(PREFIX).ok_or_else(|| {
            anyhow::anyhow!(
                "the webhook secret must be written whsec_<base64> (e.g. \
                 whsec_$(head -c 32 /dev/urandom | base64))"
            )
        })?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| anyhow::anyhow!("the webhook secret after whsec_ is not base64"))?;
        anyhow::ensure!(
            (24..=64).contains(&bytes.len()),
            "the webhook secret must be 24 to 64 bytes, base64-encoded after whsec_ \
             (it is {} bytes)",
            bytes.len()
        );
        Ok(Secret(bytes))
    }

    /// The `webhook-signature` header's value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own test vector (its reference libraries' "sign
    /// function works" test).
    #[test]
    fn signs_as_the_specification_test_vector() {
        // The vector's secret is 24 bytes.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_not_in_the_specification_form_are_refused() {
        for text in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!",
            "whsec_c2hvcnQ=",
        ] {
            assert!(Secret::parse(text).is_err(), "{text}");
        }
    }
}

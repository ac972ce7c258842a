//! Share-link tokens: `{job id}.{expiry}.{signature}`, the signature an
//! HMAC-SHA256 with the server's link secret over the job id and the expiry
//! (seconds since the epoch). Verifying recomputes it and compares in
//! constant time (`Mac::verify_slice`); the expiry is read only once the
//! signature holds, so it cannot be extended. Another secret (a rotation)
//! makes every earlier token invalid.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2_hmac::Sha256;
use uuid::Uuid;

/// What a link's signature covers besides its fields, so a signature made
/// for anything else with the same secret is never a link's.
const CONTEXT: &[u8] = b"parquetry share link v1";

/// The link secret; never printed.
#[derive(Clone)]
pub struct LinkSigner(Vec<u8>);

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(…)")
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token, or not signed with this secret.
    Invalid,
    /// Signed, and past its expiry.
    Expired,
}

impl LinkSigner {
    pub fn new(secret: &[u8]) -> LinkSigner {
        LinkSigner(secret.to_vec())
    }

    fn mac(&self, id: Uuid, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(CONTEXT);
        mac.update(id.as_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// The token of a link to job `id`'s result until `expires` (epoch seconds).
    pub fn sign(&self, id: Uuid, expires: i64) -> String {
        let signature = self.mac(id, expires).finalize().into_bytes();
        format!(
            "{}.{expires}.{}",
            id.simple(),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The job a token opens, if it is this server's and `now` (epoch
    /// seconds) is before its expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<Uuid, Refusal> {
        let mut parts = token.split('.');
        let (Some(id), Some(expires), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Invalid);
        };
        let id = Uuid::try_parse(id).map_err(|_| Refusal::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| Refusal::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Refusal::Invalid)?;
        self.mac(id, expires)
            .verify_slice(&signature)
            .map_err(|_| Refusal::Invalid)?;
        if now >= expires {
            return Err(Refusal::Expired);
        }
        Ok(id)
    }
}

/// The signer of this server: `PARQUETRY_LINK_SECRET`, or the secret kept
/// in the database (made by the first process that needed it), so every
/// process of one database signs and verifies alike.
pub async fn link_signer(
    settings: &crate::config::LinkSettings,
    store: &crate::jobs::JobStore,
) -> anyhow::Result<LinkSigner> {
    match settings.link_secret.as_deref().map(str::trim) {
        Some(secret) => {
            anyhow::ensure!(
                secret.len() >= 32,
                "the link secret (PARQUETRY_LINK_SECRET) must be at least 32 characters, \
                 e.g. $(head -c 32 /dev/urandom | base64)"
            );
            Ok(LinkSigner::new(secret.as_bytes()))
        }
        None => {
            let secret = store
                .server_secret("share-links")
                .await
                .map_err(|error| anyhow::anyhow!(error).context("reading the link secret"))?;
            Ok(LinkSigner::new(&secret))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_job_until_it_expires() {
        let signer = LinkSigner::new(b"0123456789abcdef0123456789abcdef");
        let id = Uuid::now_v7();
        let token = signer.sign(id, 1_000);
        assert_eq!(signer.verify(&token, 999), Ok(id));
        assert_eq!(signer.verify(&token, 1_000), Err(Refusal::Expired));
    }

    #[test]
    fn an_altered_or_foreign_token_is_invalid() {
        let signer = LinkSigner::new(b"0123456789abcdef0123456789abcdef");
        let id = Uuid::now_v7();
        let token = signer.sign(id, 1_000);
        let later = token.replacen(".1000.", ".2000.", 1);
        assert_eq!(signer.verify(&later, 0), Err(Refusal::Invalid));
        let other = signer.sign(Uuid::now_v7(), 1_000);
        let swapped = format!("{}{}", &other[..32], &token[32..]);
        assert_eq!(signer.verify(&swapped, 0), Err(Refusal::Invalid));
        let rotated = LinkSigner::new(b"another secret, another server!!");
        assert_eq!(rotated.verify(&token, 0), Err(Refusal::Invalid));
        for garbage in ["", "a.b.c", "a.b", &format!("{token}.x")] {
            assert_eq!(signer.verify(garbage, 0), Err(Refusal::Invalid));
        }
    }
}

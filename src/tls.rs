//! The TLS crypto provider of every HTTPS client in the process: S3
//! (object_store), webhooks, OTLP/HTTP and the command-line client.
//!
//! rustls is built with `ring` instead of its default aws-lc-rs, whose C
//! library took ~90 s of a cold release build (issue 16). reqwest and
//! object_store then bring no provider of their own: one must be the process
//! default before the first HTTP client is built, or reqwest panics.

/// Installs rustls' `ring` provider as the process default; idempotent, and
/// cheap enough to call wherever an HTTP client is about to be built.
pub fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // An error means a provider was installed already: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

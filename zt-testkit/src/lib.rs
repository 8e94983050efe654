//! zt's one test kit: the fixture keys, token minting, a real JWKS/discovery server on loopback,
//! and the sample texts that more than one suite uses. zt-core's, zt-tower's and zt-cli's tests
//! and the benches all use it, so every suite signs and serves keys the same way.
//!
//! It depends on neither zt-core nor zt-tower (it is their dev-dependency), so anything that
//! needs a zt type stays in the suite that needs it.
//!
//! ```no_run
//! # async fn demo() {
//! use zt_testkit::{JwksServer, NOW, claims, jwks, mint};
//!
//! let server = JwksServer::start(&jwks(&["rsa2048-a", "ec-p256"])).await;
//! let token = mint("ec-p256", "ES256", &claims(&server.base));
//! # let _ = (token, NOW);
//! # }
//! ```
//!
//! The `zt-testkit` binary gives the same server and minting to the Python and Node binding
//! tests: `zt-testkit serve-jwks --keys rsa2048-a,ec-p256` prints one JSON line
//! `{"url", "issuer", "jwks_uri", "pid"}` and serves until killed or `--max-secs` (300) pass;
//! `zt-testkit mint --key ec-p256 --alg ES256 --claims '{"sub": "alice"}'` prints a token.
//!
//! # Security
//! - The keys are test fixtures, public in the repository; nothing here is for production.
//! - Servers bind 127.0.0.1 on an ephemeral port only, stop when their handle is dropped, and
//!   stop by themselves after a bounded lifetime (two minutes unless told otherwise).
//!
//! # Panics
//! The convenience functions panic on misuse (an unknown key name, a key that cannot sign with
//! the algorithm, no loopback port): a test without its fixtures cannot run. The `try_*` forms
//! return [`Error`] instead, for the binary.

mod bundles;
mod dpop;
mod error;
mod keys;
mod personas;
mod redis;
mod samples;
mod server;
mod token;

// The public interface, in one place.
pub use bundles::{
    file_digests, signatures_json, signatures_json_hmac, signed_bundle, try_signatures_json,
};
pub use dpop::{try_dpop_jwk, try_dpop_proof, try_jkt};
pub use error::Error;
pub use keys::{KEY_NAMES, encoding_key, jwk, jwks, pem, try_encoding_key, try_jwk, try_jwks};
pub use personas::{
    Persona, PersonaToken, healthy_developers, healthy_device, persona_claims, quickstart_personas,
    tamper,
};
pub use redis::RedisServer;
pub use samples::{AUD, ISS, data_dir, keys_dir, sample_bundle_dir, workspace_dir};
pub use server::{DEFAULT_LIFETIME, JwksServer, Served, serve, serve_for};
pub use token::{
    Alg, NOW, b64, claims, live_claims, merge, mint, now, sign_hmac, sign_raw, try_mint,
    try_sign_raw,
};

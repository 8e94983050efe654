//! The one error type of the kit's fallible (`try_*`) forms.

/// Why a fixture could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No fixture key has this name (see [`crate::KEY_NAMES`]).
    #[error("no fixture key `{0}`")]
    UnknownKey(String),
    /// The algorithm name is not one jsonwebtoken knows.
    #[error("unknown algorithm `{0}`")]
    UnknownAlgorithm(String),
    /// The fixture's PEM or JWK text did not parse.
    #[error("fixture key `{name}` does not parse: {detail}")]
    BadFixture {
        /// The fixture key.
        name: String,
        /// What the parser said.
        detail: String,
    },
    /// Signing failed, for example a key that cannot sign with the algorithm.
    #[error("cannot sign with key `{key}`: {source}")]
    Signing {
        /// The fixture key (empty for an HMAC secret).
        key: String,
        /// jsonwebtoken's error.
        source: jsonwebtoken::errors::Error,
    },
    /// Binding the loopback listener failed.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Listen(#[from] std::io::Error),
    /// The test Redis server could not be started.
    #[error("redis-server: {0}")]
    Redis(String),
}

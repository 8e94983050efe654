//! Sample texts and places that more than one suite uses.

use std::path::{Path, PathBuf};

/// The issuer of the suites that do not run their own server (zt-core, zt-tower, zt-cli, benches).
pub const ISS: &str = "https://idp.example.com";

/// The audience of the orders service in zt-tower's, zt-cli's and the benches' configurations.
pub const AUD: &str = "orders-api";

/// The workspace root (the directory holding the root `Cargo.toml`).
pub fn workspace_dir() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit).to_path_buf()
}

/// zt-core's test data: `keys/`, `vectors/`, `fuzz/`.
pub fn data_dir() -> PathBuf {
    workspace_dir().join("zt-core/tests/data")
}

/// The fixture keys' directory: `NAME.pem` (PKCS#8 private key) and `NAME.jwk.json` (public JWK).
pub fn keys_dir() -> PathBuf {
    data_dir().join("keys")
}

/// The sample policy bundle, `examples/policies` (Rego, tests and `data.json`).
pub fn sample_bundle_dir() -> PathBuf {
    workspace_dir().join("examples/policies")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_exist() {
        for (name, dir) in [
            ("data", data_dir()),
            ("keys", keys_dir()),
            ("bundle", sample_bundle_dir()),
        ] {
            assert!(dir.is_dir(), "{name}: {}", dir.display());
        }
        assert!(keys_dir().join("ec-p256.jwk.json").is_file());
    }
}

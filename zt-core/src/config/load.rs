//! Loading a configuration from a file, a string or an in-memory value.

use super::{AuthorizerConfig, ConfigFormat, IssuerConfig};
use crate::error::ConfigError;
use crate::util::text::one_line;
use std::path::{Path, PathBuf};

impl AuthorizerConfig {
    /// A config with the given issuers and every other section at its defaults.
    pub fn new(issuers: Vec<IssuerConfig>) -> Self {
        Self {
            issuers,
            ..Self::default()
        }
    }

    /// Load and validate a file; the format comes from the extension (`.toml`, `.yaml`/`.yml`,
    /// `.json`). Relative `jwks_file`, `hmac_secret_file`, `policy.bundle` and
    /// `decision_log.path` are resolved against the file's directory.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => ConfigFormat::Toml,
            Some("yaml" | "yml") => ConfigFormat::Yaml,
            Some("json") => ConfigFormat::Json,
            _ => {
                return Err(ConfigError::UnknownFormat {
                    path: path.to_path_buf(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            kind: e.kind().to_string(),
        })?;
        let mut config = Self::parse(&text, format).map_err(|e| e.with_file(path))?;
        if let Some(dir) = path.parent() {
            config.resolve_relative_to(dir);
        }
        config.validate().map_err(|e| e.with_file(path))?;
        Ok(config)
    }

    /// Parse and validate TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_str_as(text, ConfigFormat::Toml)
    }

    /// Parse and validate YAML.
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_str_as(text, ConfigFormat::Yaml)
    }

    /// Parse and validate JSON.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_str_as(text, ConfigFormat::Json)
    }

    /// Build and validate a configuration from an in-memory JSON value (a binding's dict or
    /// object, a config assembled in code). The same schema, error paths and validation as the
    /// file loaders; relative paths are kept as given (relative to the working directory).
    ///
    /// ```
    /// use zt_core::AuthorizerConfig;
    /// let config = AuthorizerConfig::from_value(serde_json::json!({
    ///     "issuers": [{"issuer": "https://idp.example.com", "audiences": ["api"],
    ///                  "algorithms": ["RS256"], "discovery": true}],
    ///     "jwks": {"ttl_s": 300},
    /// })).unwrap();
    /// assert_eq!(config.jwks.ttl_s, 300);
    /// let err = AuthorizerConfig::from_value(serde_json::json!({"issuers": [], "jwks": {"ttl": 1}}))
    ///     .unwrap_err();
    /// assert_eq!(err.code(), "config_parse");
    /// assert_eq!(err.key(), Some("jwks.ttl"));
    /// ```
    pub fn from_value(value: serde_json::Value) -> Result<Self, ConfigError> {
        let config: Self = serde_path_to_error::deserialize(value)
            .map_err(|e| tracked(e.path(), one_line(&e.inner().to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Parse and validate a document in the given format.
    pub fn from_str_as(text: &str, format: ConfigFormat) -> Result<Self, ConfigError> {
        let config = Self::parse(text, format)?;
        config.validate()?;
        Ok(config)
    }

    fn parse(text: &str, format: ConfigFormat) -> Result<Self, ConfigError> {
        match format {
            ConfigFormat::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
                    file: None,
                    key: ".".to_owned(),
                    message: toml_message(&e, text),
                })?;
                serde_path_to_error::deserialize(de)
                    .map_err(|e| tracked(e.path(), toml_message(e.inner(), text)))
            }
            ConfigFormat::Yaml => {
                serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
                    .map_err(|e| tracked(e.path(), one_line(&e.inner().to_string())))
            }
            ConfigFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                let config = serde_path_to_error::deserialize(&mut de)
                    .map_err(|e| tracked(e.path(), one_line(&e.inner().to_string())))?;
                de.end().map_err(|e| ConfigError::Parse {
                    file: None,
                    key: ".".to_owned(),
                    message: e.to_string(),
                })?;
                Ok(config)
            }
        }
    }

    fn resolve_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for issuer in &mut self.issuers {
            issuer.jwks_file.as_mut().map(fix);
            issuer.hmac_secret_file.as_mut().map(fix);
            if let Some(pk) = issuer
                .introspection
                .as_mut()
                .and_then(|i| i.private_key_jwt.as_mut())
            {
                fix(&mut pk.key_file);
            }
        }
        let services = [
            self.policy.service.as_mut().and_then(|s| s.oauth2.as_mut()),
            self.revocation.as_mut().and_then(|r| r.oauth2.as_mut()),
            self.decision_log
                .service
                .as_mut()
                .and_then(|s| s.oauth2.as_mut()),
            self.status.service.as_mut().and_then(|s| s.oauth2.as_mut()),
        ];
        for oauth2 in services.into_iter().flatten() {
            if let Some(pk) = oauth2.private_key_jwt.as_mut() {
                fix(&mut pk.key_file);
            }
        }
        self.policy.bundle.as_mut().map(fix);
        self.dpop.nonce_secret_file.as_mut().map(fix);
        self.policy.persist_dir.as_mut().map(fix);
        if let Some(signing) = &mut self.policy.signing {
            for key in &mut signing.keys {
                key.key_file.as_mut().map(fix);
            }
        }
        self.decision_log.path.as_mut().map(fix);
        self.enforcement.override_file.as_mut().map(fix);
    }
}

fn tracked(path: &serde_path_to_error::Path, message: String) -> ConfigError {
    ConfigError::Parse {
        file: None,
        key: path.to_string(),
        message,
    }
}

/// The TOML error's message with a line and column, without the quoted source snippet.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = one_line(e.message());
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{msg} (line {line}, column {column})")
        }
        None => msg,
    }
}

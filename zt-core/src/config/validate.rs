//! Bounds and cross-field rules of a configuration.

use super::*;
use crate::error::ConfigError;
use crate::util::poll::url_allowed;

impl AuthorizerConfig {
    /// Check every bound and cross-field rule. Called by the loaders and by builders that take
    /// a config; call it yourself after editing a config in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_issuers()?;
        self.validate_keys_and_tokens()?;
        self.validate_request_and_posture()?;
        self.validate_policy_and_enforcement()?;
        self.validate_dpop_and_revocation()?;
        self.validate_decision_log()?;
        if let Some(s) = &self.status.service {
            service_url("status.service.url", &s.url)?;
            range("status.service.interval_s", s.interval_s, 1, 86_400)?;
            range("status.service.timeout_ms", s.timeout_ms, 100, 60_000)?;
            validate_credentials(
                "status.service",
                s.bearer_token_env.as_ref(),
                s.oauth2.as_ref(),
            )?;
        }
        Ok(())
    }

    /// The issuers: each named once, with audiences, algorithms and one key source.
    fn validate_issuers(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(invalid("issuers", "at least one issuer is required"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let key = |name: &str| format!("issuers[{i}].{name}");
            if issuer.issuer.is_empty() {
                return Err(invalid(&key("issuer"), "must not be empty"));
            }
            if !seen.insert(issuer.issuer.as_str()) {
                return Err(invalid(&key("issuer"), "the same issuer is listed twice"));
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty) {
                return Err(invalid(
                    &key("audiences"),
                    "at least one non-empty audience is required",
                ));
            }
            if issuer.algorithms.is_empty() && issuer.introspection.is_none() {
                return Err(invalid(
                    &key("algorithms"),
                    "at least one algorithm is required (or `introspection`, for opaque tokens only)",
                ));
            }
            if let Some(intro) = &issuer.introspection {
                validate_introspection(intro, &key)?;
            }
            range(&key("leeway_s"), issuer.leeway_s, 0, 300)?;
            range(&key("max_token_age_s"), issuer.max_token_age_s, 60, 604_800)?;
            let sources = [
                issuer.discovery,
                issuer.jwks_uri.is_some(),
                issuer.jwks_file.is_some(),
                issuer.jwks.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            let secrets = [
                issuer.hmac_secret_env.is_some(),
                issuer.hmac_secret_file.is_some(),
                issuer.hmac_secret.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            let wants_hmac = issuer.algorithms.iter().any(|a| a.is_hmac());
            let wants_keys = issuer.algorithms.iter().any(|a| !a.is_hmac());
            if sources > 1 {
                return Err(invalid(
                    &key("discovery"),
                    "set only one of `discovery`, `jwks_uri`, `jwks_file`, `jwks`",
                ));
            }
            if wants_keys && sources == 0 {
                return Err(invalid(
                    &key("algorithms"),
                    "asymmetric algorithms need a key source: `discovery`, `jwks_uri`, `jwks_file` or `jwks`",
                ));
            }
            if secrets > 1 {
                return Err(invalid(
                    &key("hmac_secret_env"),
                    "set only one of `hmac_secret_env`, `hmac_secret_file`",
                ));
            }
            if wants_hmac != (secrets == 1) {
                return Err(invalid(
                    &key("algorithms"),
                    "HS256/HS384/HS512 need exactly one shared secret (`hmac_secret_env` or `hmac_secret_file`), and a shared secret needs an HS algorithm",
                ));
            }
            if let Some(uri) = &issuer.jwks_uri
                && !url_allowed(uri)
            {
                return Err(invalid(
                    &key("jwks_uri"),
                    "must be an https URL (plain http only for loopback hosts)",
                ));
            }
            if issuer.discovery && !url_allowed(&issuer.issuer) {
                return Err(invalid(
                    &key("issuer"),
                    "discovery needs an https issuer URL (plain http only for loopback hosts)",
                ));
            }
            if issuer.token_type.as_ref().is_some_and(String::is_empty) {
                return Err(invalid(&key("token_type"), "must not be empty"));
            }
        }
        if self
            .issuers
            .iter()
            .filter(|i| i.introspection.is_some())
            .count()
            > 1
        {
            return Err(invalid(
                "issuers",
                "at most one issuer may set `introspection`: an opaque token names no issuer",
            ));
        }
        Ok(())
    }

    /// `[jwks]` and `[token]` bounds.
    fn validate_keys_and_tokens(&self) -> Result<(), ConfigError> {
        let j = &self.jwks;
        range("jwks.ttl_s", j.ttl_s, 30, 86_400)?;
        range("jwks.min_ttl_s", j.min_ttl_s, 10, 86_400)?;
        range("jwks.max_ttl_s", j.max_ttl_s, j.min_ttl_s.max(30), 604_800)?;
        range("jwks.max_stale_s", j.max_stale_s, 0, 2_592_000)?;
        range(
            "jwks.unknown_kid_cooldown_s",
            j.unknown_kid_cooldown_s,
            1,
            3_600,
        )?;
        range("jwks.timeout_ms", j.timeout_ms, 100, 60_000)?;
        range(
            "jwks.max_response_bytes",
            j.max_response_bytes,
            1_024,
            4 * 1024 * 1024,
        )?;
        let t = &self.token;
        range("token.max_bytes", t.max_bytes, 256, 65_536)?;
        range("token.cache_entries", t.cache_entries, 0, 1_000_000)?;
        range("token.cache_ttl_s", t.cache_ttl_s, 1, 3_600)?;
        Ok(())
    }

    /// `[request]` header names and `[posture]`.
    fn validate_request_and_posture(&self) -> Result<(), ConfigError> {
        if self.request.headers.len() > 64 {
            return Err(invalid("request.headers", "at most 64 header names"));
        }
        for (i, h) in self.request.headers.iter().enumerate() {
            let ok = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b));
            if !ok {
                return Err(invalid(
                    &format!("request.headers[{i}]"),
                    "must be a valid HTTP header name",
                ));
            }
        }
        let p = &self.posture;
        range("posture.max_age_s", p.max_age_s, 1, 604_800)?;
        if p.source == PostureSource::Claims && p.claim.is_empty() {
            return Err(invalid("posture.claim", "must not be empty"));
        }
        if p.source == PostureSource::Assertion {
            if p.header.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    "posture.header",
                    "required when `posture.source` is `assertion`",
                ));
            }
            match &p.issuer {
                None => {
                    return Err(invalid(
                        "posture.issuer",
                        "required when `posture.source` is `assertion`",
                    ));
                }
                Some(iss) if !self.issuers.iter().any(|i| &i.issuer == iss) => {
                    return Err(invalid(
                        "posture.issuer",
                        "must also be listed under `issuers`",
                    ));
                }
                Some(_) => {}
            }
        }
        if self.policy.entrypoint.is_empty() || !self.policy.entrypoint.starts_with("data.") {
            return Err(invalid(
                "policy.entrypoint",
                "must be a rule path starting with `data.`",
            ));
        }
        Ok(())
    }

    /// `[policy]` (service, signing shape) and `[enforcement]`.
    fn validate_policy_and_enforcement(&self) -> Result<(), ConfigError> {
        let pc = &self.policy;
        range(
            "policy.max_instructions",
            pc.max_instructions,
            1_000,
            10_000_000,
        )?;
        range(
            "policy.max_file_bytes",
            pc.max_file_bytes,
            1_024,
            64 * 1024 * 1024,
        )?;
        range(
            "policy.max_bundle_bytes",
            pc.max_bundle_bytes,
            1_024,
            256 * 1024 * 1024,
        )?;
        range("policy.keep_revisions", pc.keep_revisions, 1, 100)?;
        if let Some(s) = &pc.service {
            if pc.bundle.is_some() {
                return Err(invalid(
                    "policy.service",
                    "set either `policy.bundle` or `policy.service`, not both",
                ));
            }
            service_url("policy.service.url", &s.url)?;
            range("policy.service.polling_min_s", s.polling_min_s, 1, 86_400)?;
            range(
                "policy.service.polling_max_s",
                s.polling_max_s,
                s.polling_min_s,
                86_400,
            )?;
            range("policy.service.timeout_ms", s.timeout_ms, 100, 60_000)?;
            validate_credentials(
                "policy.service",
                s.bearer_token_env.as_ref(),
                s.oauth2.as_ref(),
            )?;
        } else if pc.persist_dir.is_some() {
            return Err(invalid(
                "policy.persist_dir",
                "only applies with `policy.service`",
            ));
        }
        if let Some(signing) = &pc.signing {
            // The shape only: the keys themselves are read when the authorizer is built.
            signing
                .check_shape()
                .map_err(|message| invalid("policy.signing", &message))?;
        }
        range(
            "enforcement.canary_percent",
            self.enforcement.canary_percent,
            0,
            100,
        )?;
        range(
            "enforcement.override_poll_ms",
            self.enforcement.override_poll_ms,
            50,
            60_000,
        )?;
        if let Some(r) = &self.enforcement.rollout {
            validate_rollout(r)?;
        }
        Ok(())
    }

    /// `[dpop]` and `[revocation]`.
    fn validate_dpop_and_revocation(&self) -> Result<(), ConfigError> {
        let dp = &self.dpop;
        if dp.algorithms.is_empty() || dp.algorithms.iter().any(|a| a.is_hmac()) {
            return Err(invalid(
                "dpop.algorithms",
                "must list asymmetric algorithms only (no HS256/384/512), at least one",
            ));
        }
        range("dpop.max_age_s", dp.max_age_s, 1, 3600)?;
        range("dpop.leeway_s", dp.leeway_s, 0, 300)?;
        range("dpop.nonce_lifetime_s", dp.nonce_lifetime_s, 10, 3600)?;
        if dp.nonce_secret_env.is_some() && dp.nonce_secret_file.is_some() {
            return Err(invalid(
                "dpop.nonce_secret_env",
                "set only one of `nonce_secret_env`, `nonce_secret_file`",
            ));
        }
        range(
            "dpop.replay_cache_entries",
            dp.replay_cache_entries,
            1000,
            10_000_000,
        )?;
        if let Some(b) = &dp.base_url {
            let ok = url::Url::parse(b).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http")
                    && u.host().is_some()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
            });
            if !ok {
                return Err(invalid(
                    "dpop.base_url",
                    "must be a scheme and authority only, such as `https://api.example.com`",
                ));
            }
        }
        if let Some(rs) = &dp.replay_store {
            validate_replay_store(rs)?;
        }
        if let Some(r) = &self.revocation {
            service_url("revocation.url", &r.url)?;
            validate_credentials("revocation", r.bearer_token_env.as_ref(), r.oauth2.as_ref())?;
            range("revocation.polling_min_s", r.polling_min_s, 1, 86_400)?;
            range(
                "revocation.polling_max_s",
                r.polling_max_s,
                r.polling_min_s,
                86_400,
            )?;
            range("revocation.timeout_ms", r.timeout_ms, 100, 60_000)?;
            range("revocation.max_bytes", r.max_bytes, 1024, 256 * 1024 * 1024)?;
        }
        Ok(())
    }

    /// `[decision_log]`: sink, path, service, mask.
    fn validate_decision_log(&self) -> Result<(), ConfigError> {
        let d = &self.decision_log;
        range(
            "decision_log.queue_capacity",
            d.queue_capacity,
            1,
            1_000_000,
        )?;
        if matches!(
            d.sink,
            DecisionLogSink::File | DecisionLogSink::HashChainedFile
        ) && d.path.is_none()
        {
            return Err(invalid(
                "decision_log.path",
                "required for the `file` and `hash_chained_file` sinks",
            ));
        }
        match (&d.service, d.sink) {
            (Some(s), DecisionLogSink::Service) => {
                service_url("decision_log.service.url", &s.url)?;
                range(
                    "decision_log.service.upload_size_limit_bytes",
                    s.upload_size_limit_bytes,
                    4096,
                    64 * 1024 * 1024,
                )?;
                range(
                    "decision_log.service.max_delay_ms",
                    s.max_delay_ms,
                    10,
                    600_000,
                )?;
                range(
                    "decision_log.service.buffer_batches",
                    s.buffer_batches,
                    1,
                    4096,
                )?;
                range("decision_log.service.max_retries", s.max_retries, 0, 20)?;
                range("decision_log.service.timeout_ms", s.timeout_ms, 100, 60_000)?;
                validate_credentials(
                    "decision_log.service",
                    s.bearer_token_env.as_ref(),
                    s.oauth2.as_ref(),
                )?;
            }
            (None, DecisionLogSink::Service) => {
                return Err(invalid(
                    "decision_log.service",
                    "required for the `service` sink",
                ));
            }
            (Some(_), _) => {
                return Err(invalid(
                    "decision_log.service",
                    "only applies with `sink = \"service\"`",
                ));
            }
            (None, _) => {}
        }
        for (i, m) in d.mask.iter().enumerate() {
            if !m.starts_with('/') {
                return Err(invalid(
                    &format!("decision_log.mask[{i}]"),
                    "must be a JSON pointer starting with `/`",
                ));
            }
        }
        Ok(())
    }
}

impl crate::config::RolloutConfig {
    /// Check the section on its own (the same checks as [`AuthorizerConfig::validate`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_rollout(self)
    }
}

fn validate_rollout(r: &crate::config::RolloutConfig) -> Result<(), ConfigError> {
    const STAGES: &str = "enforcement.rollout.stages";
    if r.stages.len() < 2 || r.stages.last() != Some(&100) {
        return Err(invalid(
            STAGES,
            "needs at least one stage below 100 and must end with 100",
        ));
    }
    for (i, pair) in r.stages.windows(2).enumerate() {
        if let [a, b] = pair
            && a >= b
        {
            return Err(invalid(
                &format!("{STAGES}[{}]", i + 1),
                "stages must increase strictly (0 = shadow, first only)",
            ));
        }
    }
    for (i, s) in r.stages.iter().enumerate() {
        range(&format!("{STAGES}[{i}]"), *s, 0, 100)?;
    }
    range(
        "enforcement.rollout.min_decisions",
        r.min_decisions,
        1,
        10_000_000,
    )?;
    range(
        "enforcement.rollout.min_duration_s",
        r.min_duration_s,
        0,
        604_800,
    )?;
    for (key, v) in [
        ("max_deny_rate_increase", r.max_deny_rate_increase),
        ("max_step_up_rate_increase", r.max_step_up_rate_increase),
        (
            "max_policy_error_rate_increase",
            r.max_policy_error_rate_increase,
        ),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(invalid(
                &format!("enforcement.rollout.{key}"),
                "must be a fraction in 0..=1",
            ));
        }
    }
    Ok(())
}

/// A service zt polls or posts to: `https` (`http` only on loopback), no `user:password`.
fn service_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let no_userinfo =
        url::Url::parse(url).is_ok_and(|u| u.username().is_empty() && u.password().is_none());
    if url_allowed(url) && no_userinfo {
        Ok(())
    } else {
        Err(invalid(
            key,
            "must be https (http only on loopback), without user:password",
        ))
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        file: None,
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

fn range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            file: None,
            key: key.to_owned(),
            value,
            min,
            max,
        })
    }
}

fn validate_introspection(
    i: &IntrospectionConfig,
    key: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let k = |name: &str| key(&format!("introspection.{name}"));
    if !url_allowed(&i.endpoint) {
        return Err(invalid(
            &k("endpoint"),
            "must be an https URL (plain http only for loopback hosts)",
        ));
    }
    if url::Url::parse(&i.endpoint)
        .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        return Err(invalid(
            &k("endpoint"),
            "must not carry credentials: use `client_secret_env` or `private_key_jwt`",
        ));
    }
    if i.client_id.is_empty() {
        return Err(invalid(&k("client_id"), "must not be empty"));
    }
    match (&i.client_secret_env, &i.private_key_jwt) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid(
                &k("client_secret_env"),
                "set exactly one of `client_secret_env` and `private_key_jwt`",
            ));
        }
        (Some(var), None) if var.is_empty() => {
            return Err(invalid(&k("client_secret_env"), "must not be empty"));
        }
        (None, Some(pk)) if pk.algorithm.is_hmac() => {
            return Err(invalid(
                &k("private_key_jwt.algorithm"),
                "must be an asymmetric algorithm",
            ));
        }
        _ => {}
    }
    range(&k("ttl_s"), i.ttl_s, 1, 3600)?;
    range(&k("inactive_ttl_s"), i.inactive_ttl_s, 1, 300)?;
    range(&k("timeout_ms"), i.timeout_ms, 100, 60_000)?;
    range(&k("cache_entries"), i.cache_entries, 100, 10_000_000)?;
    range(&k("rate_per_s"), i.rate_per_s, 1, 100_000)?;
    range(&k("burst"), i.burst, 1, 100_000)?;
    range(&k("failure_threshold"), i.failure_threshold, 1, 1000)?;
    range(&k("open_s"), i.open_s, 1, 3600)?;
    range(
        &k("max_response_bytes"),
        i.max_response_bytes,
        1024,
        1_048_576,
    )?;
    Ok(())
}

/// `[dpop.replay_store]`.
fn validate_replay_store(rs: &ReplayStoreConfig) -> Result<(), ConfigError> {
    let url = url::Url::parse(&rs.url).map_err(|_| {
        invalid(
            "dpop.replay_store.url",
            "must be a URL such as `redis://127.0.0.1:6379/0`",
        )
    })?;
    match url.scheme() {
        "redis" if url.host().is_some() => {}
        "redis+unix" | "unix" => {}
        "rediss" => {
            return Err(invalid(
                "dpop.replay_store.url",
                "TLS to Redis (`rediss://`) is not built in: use `redis://` on a private network or a local socket",
            ));
        }
        _ => {
            return Err(invalid(
                "dpop.replay_store.url",
                "must be `redis://host:port/db` or `redis+unix:///path`",
            ));
        }
    }
    if url.password().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "dpop.replay_store.url",
            "must not carry a user or password: use `username` and `password_env`",
        ));
    }
    if url.query_pairs().any(|(k, _)| k == "pass" || k == "user") {
        return Err(invalid(
            "dpop.replay_store.url",
            "must not carry a user or password: use `username` and `password_env`",
        ));
    }
    if rs.prefix.is_empty()
        || rs.prefix.len() > 64
        || !rs.prefix.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            "dpop.replay_store.prefix",
            "must be 1 to 64 printable ASCII characters without spaces",
        ));
    }
    range("dpop.replay_store.timeout_ms", rs.timeout_ms, 1, 10_000)?;
    if rs.username.is_some() && rs.password_env.is_none() {
        return Err(invalid(
            "dpop.replay_store.username",
            "needs `password_env`",
        ));
    }
    Ok(())
}

/// `{section}.oauth2`, and that it is not set together with `{section}.bearer_token_env`.
pub(super) fn validate_credentials(
    section: &str,
    bearer_token_env: Option<&String>,
    oauth2: Option<&OAuth2Config>,
) -> Result<(), ConfigError> {
    let Some(o) = oauth2 else {
        return Ok(());
    };
    let key = |name: &str| format!("{section}.oauth2.{name}");
    if bearer_token_env.is_some() {
        return Err(invalid(
            &format!("{section}.oauth2"),
            "set only one of `bearer_token_env`, `oauth2`",
        ));
    }
    service_url(&key("token_url"), &o.token_url)?;
    if o.client_id.is_empty() {
        return Err(invalid(&key("client_id"), "must not be empty"));
    }
    match (&o.client_secret_env, &o.private_key_jwt) {
        (Some(_), None) | (None, Some(_)) => {}
        _ => {
            return Err(invalid(
                &key("client_secret_env"),
                "set one of `client_secret_env` and `private_key_jwt`",
            ));
        }
    }
    if let Some(pk) = &o.private_key_jwt
        && pk.algorithm.is_hmac()
    {
        return Err(invalid(
            &key("private_key_jwt.algorithm"),
            "must be asymmetric (RS256, PS256, ES256, ES384, EdDSA, ...)",
        ));
    }
    if o.scopes.iter().any(|s| {
        s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    }) {
        return Err(invalid(
            &key("scopes"),
            "each scope must be printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)",
        ));
    }
    range(&key("timeout_ms"), o.timeout_ms, 100, 60_000)
}

//! The policy input document: the one stable shape every policy sees, from every surface.
//!
//! ```json
//! {
//!   "subject":  {"id": "sub", "issuer": "iss", "audience": ["..."], "groups": [], "roles": [],
//!                "scopes": [], "acr": null, "amr": [], "auth_time": null, "claims": {}},
//!   "request":  {"method": "POST", "path": "/admin/deploy", "segments": ["admin", "deploy"],
//!                "host": null, "headers": {}, "source_ip": null},
//!   "device":   {"id": null, "managed": false, "os": null, "os_version": null,
//!                "patch_age_days": null, "disk_encrypted": null, "firewall_enabled": null,
//!                "edr_running": null, "screen_lock_enabled": null, "jailbroken": null,
//!                "assessed_at": 0, "age_s": 0, "source": "claims", "extra": {}},
//!   "workload": {"spiffe_id": null},
//!   "resource": {},
//!   "context":  {"now": 0, "service": null}
//! }
//! ```
//!
//! A [`PolicyInput`] can only be built from [`VerifiedClaims`], so a policy never sees claims
//! that did not pass verification. It is built directly as a regorus value (about twice as fast
//! as going through a JSON string), and the `subject` part is built once per verified token and
//! reused on verified-token cache hits.
//!
//! Groups, roles and scopes are gathered from the usual claims: `groups`; `roles` and
//! `realm_access.roles` (Keycloak); `scope` (space separated, RFC 8693/9068) and `scp` (a list
//! or a space-separated string). Each list keeps the first occurrence of a value.
//!
//! ```
//! use zt_core::{PolicyInput, RequestInfo};
//! let request = RequestInfo::new("POST", "/admin/deploy?dry=1");
//! assert_eq!(request.segments(), vec!["admin", "deploy"]);
//! ```
//!
//! # Security
//! - The `authorization`, `proxy-authorization` and `cookie` headers never enter the input,
//!   whatever the caller passes: tokens and session secrets stay out of policies and logs.

use crate::posture::DeviceInput;
use crate::token::VerifiedClaims;
use regorus::Value as RegoValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The value that replaces masked input fields (decision-log `mask`).
pub const MASKED: &str = "[masked]";

/// Headers that never enter the input document.
const NEVER_INPUT_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// The request attributes the policy sees. `Debug` shows the path without its query string and
/// header names without values (either may carry a token).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo {
    /// HTTP method (or RPC verb), as sent.
    pub method: String,
    /// Path, possibly with a query string (which is not part of `request.path`).
    pub path: String,
    /// `Host` / `:authority`, when known.
    pub host: Option<String>,
    /// Selected headers (names are lower-cased when the input is built).
    pub headers: Vec<(String, String)>,
    /// Peer address, when known.
    pub source_ip: Option<String>,
}

impl std::fmt::Debug for RequestInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestInfo")
            .field("method", &self.method)
            .field("path", &self.path_only())
            .field("host", &self.host)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("source_ip", &self.source_ip)
            .finish()
    }
}

impl RequestInfo {
    /// A request with a method and a path.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    /// The path without its query string or fragment.
    pub fn path_only(&self) -> &str {
        let end = self.path.find(['?', '#']).unwrap_or(self.path.len());
        self.path.get(..end).unwrap_or(&self.path)
    }

    /// The non-empty `/`-separated segments of the path.
    pub fn segments(&self) -> Vec<&str> {
        self.path_only()
            .split('/')
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// Decision context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputContext {
    /// Decision time, seconds since the Unix epoch.
    pub now: u64,
    /// The name of the service asking.
    pub service: Option<String>,
}

impl InputContext {
    /// The context at `now` (seconds since the Unix epoch) for `service`.
    pub fn new(now: u64, service: Option<String>) -> Self {
        Self { now, service }
    }
}

/// A complete policy input document; built only from verified claims.
#[derive(Clone)]
pub struct PolicyInput {
    value: RegoValue,
}

impl std::fmt::Debug for PolicyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyInput { .. }")
    }
}

impl PolicyInput {
    /// Build the input document.
    pub fn build(
        claims: &VerifiedClaims,
        request: &RequestInfo,
        device: Option<&DeviceInput>,
        spiffe_id: Option<&str>,
        resource: &Map<String, Value>,
        context: &InputContext,
    ) -> Self {
        Self::build_with(
            claims,
            request,
            &|_| true,
            device,
            spiffe_id,
            resource,
            context,
        )
    }

    /// Build with a header filter (the authorizer passes its `[request] headers` allow-list).
    pub(crate) fn build_with(
        claims: &VerifiedClaims,
        request: &RequestInfo,
        keep_header: &dyn Fn(&str) -> bool,
        device: Option<&DeviceInput>,
        spiffe_id: Option<&str>,
        resource: &Map<String, Value>,
        context: &InputContext,
    ) -> Self {
        let subject = claims.subject_value(|| subject_value(claims));
        let value = object([
            ("subject", subject),
            ("request", request_value(request, keep_header)),
            ("device", device.map_or(RegoValue::Null, device_value)),
            ("workload", object([("spiffe_id", opt_str(spiffe_id))])),
            ("resource", RegoValue::from(Value::Object(resource.clone()))),
            (
                "context",
                object([
                    ("now", RegoValue::from(context.now)),
                    ("service", opt_str(context.service.as_deref())),
                ]),
            ),
        ]);
        Self { value }
    }

    /// The document as a regorus value.
    pub(crate) fn as_rego(&self) -> &RegoValue {
        &self.value
    }

    /// Build from a JSON document (tooling, benches and tests through `internal`); not a
    /// verified input.
    pub(crate) fn from_json_unverified(doc: &Value) -> Self {
        Self {
            value: RegoValue::from(doc.clone()),
        }
    }

    /// A copy with the values at the given JSON pointers replaced by `"[masked]"`.
    pub(crate) fn masked(&self, pointers: &[String]) -> RegoValue {
        let mut v = self.value.clone();
        for p in pointers {
            mask_pointer(&mut v, p);
        }
        v
    }

    /// The document as JSON (for decision logs and tooling).
    pub fn to_json(&self) -> Value {
        // Directly through serde: regorus's `to_json_str` pretty-prints into a string first.
        serde_json::to_value(&self.value).unwrap_or(Value::Null)
    }
}

fn object<const N: usize>(fields: [(&str, RegoValue); N]) -> RegoValue {
    let map: BTreeMap<RegoValue, RegoValue> = fields
        .into_iter()
        .map(|(k, v)| (RegoValue::from(k), v))
        .collect();
    RegoValue::from(map)
}

fn opt_str(s: Option<&str>) -> RegoValue {
    s.map_or(RegoValue::Null, RegoValue::from)
}

fn str_list(items: Vec<String>) -> RegoValue {
    RegoValue::from(items.into_iter().map(RegoValue::from).collect::<Vec<_>>())
}

/// Strings from a claim holding a list of strings or one string (split on spaces when `split`).
fn strings_from(v: Option<&Value>, split: bool, out: &mut Vec<String>) {
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    match v {
        Some(Value::String(s)) if split => s.split(' ').for_each(&mut push),
        Some(Value::String(s)) => push(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).for_each(&mut push),
        _ => {}
    }
}

pub(crate) fn subject_value(claims: &VerifiedClaims) -> RegoValue {
    let c = claims.claims();
    let mut groups = Vec::new();
    strings_from(c.get("groups"), false, &mut groups);
    let mut roles = Vec::new();
    strings_from(c.get("roles"), false, &mut roles);
    strings_from(
        c.get("realm_access").and_then(|r| r.get("roles")),
        false,
        &mut roles,
    );
    let mut scopes = Vec::new();
    strings_from(c.get("scope"), true, &mut scopes);
    strings_from(c.get("scp"), true, &mut scopes);
    let mut amr = Vec::new();
    strings_from(c.get("amr"), false, &mut amr);
    let acr = c.get("acr").and_then(Value::as_str);
    let auth_time = c.get("auth_time").and_then(Value::as_u64);
    object([
        ("id", opt_str(claims.subject())),
        ("issuer", RegoValue::from(claims.issuer())),
        ("audience", str_list(claims.audience().to_vec())),
        ("groups", str_list(groups)),
        ("roles", str_list(roles)),
        ("scopes", str_list(scopes)),
        ("acr", opt_str(acr)),
        ("amr", str_list(amr)),
        (
            "auth_time",
            auth_time.map_or(RegoValue::Null, RegoValue::from),
        ),
        ("claims", RegoValue::from(Value::Object(c.clone()))),
    ])
}

/// `{"request": ...}` with masks applied (decision logs of requests without a verified token).
pub(crate) fn request_only(
    r: &RequestInfo,
    keep_header: &dyn Fn(&str) -> bool,
    mask: &[String],
) -> RegoValue {
    let mut v = object([("request", request_value(r, keep_header))]);
    for pointer in mask {
        mask_pointer(&mut v, pointer);
    }
    v
}

/// Replace the value at a JSON pointer (RFC 6901) with [`MASKED`], if it exists.
/// Shared parts are copied on write, so the policy's own value is never changed.
fn mask_pointer(v: &mut RegoValue, pointer: &str) {
    let Some(rest) = pointer.strip_prefix('/') else {
        return;
    };
    let mut at = v;
    for token in rest.split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        let next = match at {
            RegoValue::Object(_) => at
                .as_object_mut()
                .ok()
                .and_then(|o| o.get_mut(&RegoValue::from(token.as_str()))),
            RegoValue::Array(_) => {
                let Ok(i) = token.parse::<usize>() else {
                    return;
                };
                at.as_array_mut().ok().and_then(|a| a.get_mut(i))
            }
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => return,
        }
    }
    *at = RegoValue::from(MASKED);
}

fn request_value(r: &RequestInfo, keep_header: &dyn Fn(&str) -> bool) -> RegoValue {
    let headers: BTreeMap<RegoValue, RegoValue> = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, _)| !NEVER_INPUT_HEADERS.contains(&k.as_str()) && keep_header(k))
        .map(|(k, v)| (RegoValue::from(k), RegoValue::from(v.as_str())))
        .collect();
    object([
        ("method", RegoValue::from(r.method.as_str())),
        ("path", RegoValue::from(r.path_only())),
        (
            "segments",
            RegoValue::from(
                r.segments()
                    .into_iter()
                    .map(RegoValue::from)
                    .collect::<Vec<_>>(),
            ),
        ),
        ("host", opt_str(r.host.as_deref())),
        ("headers", RegoValue::from(headers)),
        ("source_ip", opt_str(r.source_ip.as_deref())),
    ])
}

fn device_value(d: &DeviceInput) -> RegoValue {
    let opt_bool = |b: Option<bool>| b.map_or(RegoValue::Null, RegoValue::from);
    object([
        ("id", opt_str(d.id.as_deref())),
        ("managed", RegoValue::from(d.managed)),
        ("os", opt_str(d.os.as_deref())),
        ("os_version", opt_str(d.os_version.as_deref())),
        (
            "patch_age_days",
            d.patch_age_days.map_or(RegoValue::Null, RegoValue::from),
        ),
        ("disk_encrypted", opt_bool(d.disk_encrypted)),
        ("firewall_enabled", opt_bool(d.firewall_enabled)),
        ("edr_running", opt_bool(d.edr_running)),
        ("screen_lock_enabled", opt_bool(d.screen_lock_enabled)),
        ("jailbroken", opt_bool(d.jailbroken)),
        ("assessed_at", RegoValue::from(d.assessed_at)),
        ("age_s", RegoValue::from(d.age_s)),
        ("source", RegoValue::from(d.source.as_str())),
        ("extra", RegoValue::from(Value::Object(d.extra.clone()))),
    ])
}

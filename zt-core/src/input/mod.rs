//! The policy input document: the one stable shape every policy sees, from every surface.
//!
//! ```json
//! {
//!   "subject":  {"id": "sub", "issuer": "iss", "audience": ["..."], "groups": [], "roles": [],
//!                "scopes": [], "acr": null, "amr": [], "auth_time": null,
//!                "confirmation": {"method": null, "jkt": null, "x5t#S256": null}, "claims": {}},
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

use crate::token::VerifiedClaims;
use crate::util::json::{to_rego, value_to_rego};

mod device;
pub use device::DeviceInput;
pub(crate) use device::parse_device;

use regorus::Value as RegoValue;
use regorus::value::Object as RegoObject;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The value that replaces masked input fields (decision-log `mask`).
pub const MASKED: &str = "[masked]";

/// Headers that never enter the input document.
const NEVER_INPUT_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "dpop"];

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
        let device = device.map_or(RegoValue::Null, device_value);
        Self::build_with(
            claims,
            request,
            &|_| true,
            device,
            spiffe_id,
            resource,
            (context.now, context.service.as_deref()),
        )
    }

    /// Build with a header filter (the authorizer passes its `[request] headers` allow-list)
    /// and the device part already built.
    pub(crate) fn build_with(
        claims: &VerifiedClaims,
        request: &RequestInfo,
        keep_header: &dyn Fn(&str) -> bool,
        device: RegoValue,
        spiffe_id: Option<&str>,
        resource: &Map<String, Value>,
        (now, service): (u64, Option<&str>),
    ) -> Self {
        let subject = claims.subject_value(|| subject_value(claims));
        let value = PARTS.with(|p| {
            let request = request_value_with(p, request, keep_header);
            let workload = match spiffe_id {
                None => p.workload_none.clone(),
                Some(id) => p.fill(&p.workload, [(&p.k.spiffe_id, RegoValue::from(id))]),
            };
            let resource = if resource.is_empty() {
                p.empty_object.clone()
            } else {
                to_rego(resource)
            };
            let context = p.context(now, service);
            p.fill(
                &p.top,
                [
                    (&p.k.subject, subject),
                    (&p.k.request, request),
                    (&p.k.device, device),
                    (&p.k.workload, workload),
                    (&p.k.resource, resource),
                    (&p.k.context, context),
                ],
            )
        });
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
            value: value_to_rego(doc),
        }
    }

    /// A policy input from a regorus value, bypassing token verification (replay).
    pub(crate) fn from_rego_unverified(value: RegoValue) -> Self {
        Self { value }
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

/// The key names of the input document as regorus values.
struct Keys {
    subject: RegoValue,
    request: RegoValue,
    device: RegoValue,
    workload: RegoValue,
    resource: RegoValue,
    context: RegoValue,
    method: RegoValue,
    path: RegoValue,
    segments: RegoValue,
    host: RegoValue,
    headers: RegoValue,
    source_ip: RegoValue,
    spiffe_id: RegoValue,
    now: RegoValue,
    service: RegoValue,
    age_s: RegoValue,
}

/// Pre-built parts of the document, one set per thread: key values, frozen template objects
/// (every key present, values `null`) that a request copies and fills in place, and the
/// constant parts shared as they are. Per thread, so that the reference counts a request
/// touches are never contended by another core.
struct Parts {
    k: Keys,
    top: RegoObject,
    request: RegoObject,
    workload: RegoObject,
    context: RegoObject,
    device: RegoObject,
    workload_none: RegoValue,
    empty_object: RegoValue,
    methods: Vec<(&'static str, RegoValue)>,
    /// The last `context` built on this thread: `(now, service, value)`.
    last_context: std::cell::RefCell<Option<(u64, Option<String>, RegoValue)>>,
    /// The last device value aged on this thread: `(base, age_s, value)`.
    last_device: std::cell::RefCell<Option<(RegoValue, u64, RegoValue)>>,
}

thread_local! {
    static PARTS: Parts = Parts::new();
}

/// The standard methods, shared instead of allocated per request.
const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE",
];

const REQUEST_KEYS: [&str; 6] = ["method", "path", "segments", "host", "headers", "source_ip"];
const DEVICE_KEYS: [&str; 14] = [
    "id",
    "managed",
    "os",
    "os_version",
    "patch_age_days",
    "disk_encrypted",
    "firewall_enabled",
    "edr_running",
    "screen_lock_enabled",
    "jailbroken",
    "assessed_at",
    "age_s",
    "source",
    "extra",
];

impl Parts {
    fn new() -> Self {
        let key = RegoValue::from;
        let k = Keys {
            subject: key("subject"),
            request: key("request"),
            device: key("device"),
            workload: key("workload"),
            resource: key("resource"),
            context: key("context"),
            method: key("method"),
            path: key("path"),
            segments: key("segments"),
            host: key("host"),
            headers: key("headers"),
            source_ip: key("source_ip"),
            spiffe_id: key("spiffe_id"),
            now: key("now"),
            service: key("service"),
            age_s: key("age_s"),
        };
        let workload = template(&["spiffe_id"]);
        let workload_none = RegoValue::from(workload.clone());
        Self {
            top: template(&[
                "subject", "request", "device", "workload", "resource", "context",
            ]),
            request: template(&REQUEST_KEYS),
            context: template(&["now", "service"]),
            device: template(&DEVICE_KEYS),
            workload,
            workload_none,
            empty_object: RegoValue::new_object(),
            methods: METHODS.iter().map(|m| (*m, RegoValue::from(*m))).collect(),
            last_context: std::cell::RefCell::new(None),
            last_device: std::cell::RefCell::new(None),
            k,
        }
    }

    /// A copy of `template` with the given keys set (each key must be in the template).
    fn fill<const N: usize>(
        &self,
        template: &RegoObject,
        fields: [(&RegoValue, RegoValue); N],
    ) -> RegoValue {
        let mut o = template.clone();
        for (k, v) in fields {
            // The template already holds `null`.
            if matches!(v, RegoValue::Null) {
                continue;
            }
            if let Some(slot) = o.get_mut(k) {
                *slot = v;
            }
        }
        RegoValue::from(o)
    }

    fn method(&self, m: &str) -> RegoValue {
        self.methods
            .iter()
            .find(|(name, _)| *name == m)
            .map_or_else(|| RegoValue::from(m), |(_, v)| v.clone())
    }

    /// `{"now": ..., "service": ...}`, shared while `now` and the service stay the same.
    fn context(&self, now: u64, service: Option<&str>) -> RegoValue {
        let mut last = self.last_context.borrow_mut();
        if let Some((n, s, v)) = &*last
            && *n == now
            && s.as_deref() == service
        {
            return v.clone();
        }
        let v = self.fill(
            &self.context,
            [
                (&self.k.now, RegoValue::from(now)),
                (&self.k.service, opt_str(service)),
            ],
        );
        *last = Some((now, service.map(str::to_owned), v.clone()));
        v
    }
}

/// A frozen object with the given keys, every value `null`.
fn template(keys: &[&str]) -> RegoObject {
    let o: RegoObject = keys
        .iter()
        .map(|k| (RegoValue::from(*k), RegoValue::Null))
        .collect();
    // `into_value` freezes the storage; the clone of a frozen object stays frozen.
    match RegoValue::from(o) {
        RegoValue::Object(o) => (*o).clone(),
        _ => RegoObject::new(),
    }
}

fn opt_str(s: Option<&str>) -> RegoValue {
    s.map_or(RegoValue::Null, RegoValue::from)
}

fn str_list(items: &[&str]) -> RegoValue {
    RegoValue::from(
        items
            .iter()
            .map(|s| RegoValue::from(*s))
            .collect::<Vec<_>>(),
    )
}

/// A string for a list in `input.subject`, with the claim's own value when it is the whole of
/// it (shared, not copied).
struct Str<'c> {
    text: &'c str,
    whole: Option<&'c RegoValue>,
}

/// Strings from a claim holding a list of strings or one string (split on spaces when `split`),
/// first occurrence kept.
fn strings_from<'c>(v: Option<&'c RegoValue>, split: bool, out: &mut Vec<Str<'c>>) {
    let mut push = |text: &'c str, whole: Option<&'c RegoValue>| {
        if !text.is_empty() && !out.iter().any(|s| s.text == text) {
            out.push(Str { text, whole });
        }
    };
    match v {
        Some(RegoValue::String(s)) if split && s.contains(' ') => {
            s.split(' ').for_each(|part| push(part, None));
        }
        Some(whole @ RegoValue::String(s)) => push(s, Some(whole)),
        Some(RegoValue::Array(a)) => {
            for whole in a.iter() {
                if let RegoValue::String(s) = whole {
                    push(s, Some(whole));
                }
            }
        }
        _ => {}
    }
}

fn list(items: Vec<Str<'_>>) -> RegoValue {
    RegoValue::from(
        items
            .into_iter()
            .map(|s| s.whole.cloned().unwrap_or_else(|| RegoValue::from(s.text)))
            .collect::<Vec<_>>(),
    )
}

/// The members of an object named in `names` (in that order), in one pass.
fn members<'c, const N: usize>(
    v: Option<&'c RegoValue>,
    names: [&str; N],
) -> [Option<&'c RegoValue>; N] {
    let mut out = [None; N];
    if let Some(RegoValue::Object(o)) = v {
        for (k, v) in o.iter() {
            if let RegoValue::String(k) = k
                && let Some(slot) = names
                    .iter()
                    .position(|n| **n == **k)
                    .and_then(|i| out.get_mut(i))
            {
                *slot = Some(v);
            }
        }
    }
    out
}

fn object<const N: usize>(fields: [(&str, RegoValue); N]) -> RegoValue {
    let map: BTreeMap<RegoValue, RegoValue> = fields
        .into_iter()
        .map(|(k, v)| (RegoValue::from(k), v))
        .collect();
    RegoValue::from(map)
}

pub(crate) fn subject_value(claims: &VerifiedClaims) -> RegoValue {
    let tree = claims.tree();
    let [groups_v, roles_v, realm_v, scope_v, scp_v, amr_v] = members(
        Some(tree),
        ["groups", "roles", "realm_access", "scope", "scp", "amr"],
    );
    let mut groups = Vec::new();
    strings_from(groups_v, false, &mut groups);
    let mut roles = Vec::new();
    strings_from(roles_v, false, &mut roles);
    let [realm_roles] = members(realm_v, ["roles"]);
    strings_from(realm_roles, false, &mut roles);
    let mut scopes = Vec::new();
    strings_from(scope_v, true, &mut scopes);
    strings_from(scp_v, true, &mut scopes);
    let mut amr = Vec::new();
    strings_from(amr_v, false, &mut amr);
    // The token's binding, already proven when the policy runs (DPoP proof or certificate).
    let cnf = claims.confirmation().and_then(Value::as_object);
    let jkt = cnf.and_then(|c| c.get("jkt")).and_then(Value::as_str);
    let x5t = cnf.and_then(|c| c.get("x5t#S256")).and_then(Value::as_str);
    let method = match (jkt, x5t) {
        (Some(_), _) => RegoValue::from("dpop"),
        (None, Some(_)) => RegoValue::from("mtls"),
        (None, None) => RegoValue::Null,
    };
    let confirmation = object([
        ("method", method),
        ("jkt", opt_str(jkt)),
        ("x5t#S256", opt_str(x5t)),
    ]);
    object([
        ("id", opt_str(claims.subject())),
        ("issuer", RegoValue::from(claims.issuer())),
        (
            "audience",
            str_list(
                &claims
                    .audience()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
        ),
        ("groups", list(groups)),
        ("roles", list(roles)),
        ("scopes", list(scopes)),
        ("acr", opt_str(claims.acr())),
        ("amr", list(amr)),
        (
            "auth_time",
            claims.auth_time().map_or(RegoValue::Null, RegoValue::from),
        ),
        ("confirmation", confirmation),
        ("claims", tree.clone()),
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
    PARTS.with(|p| request_value_with(p, r, keep_header))
}

fn request_value_with(p: &Parts, r: &RequestInfo, keep_header: &dyn Fn(&str) -> bool) -> RegoValue {
    let mut headers = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, _)| !NEVER_INPUT_HEADERS.contains(&k.as_str()) && keep_header(k))
        .peekable();
    let headers = if headers.peek().is_none() {
        p.empty_object.clone()
    } else {
        let map: BTreeMap<RegoValue, RegoValue> = headers
            .map(|(k, v)| (RegoValue::from(k), RegoValue::from(v.as_str())))
            .collect();
        RegoValue::from(map)
    };
    let segments: Vec<RegoValue> = r
        .path_only()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(RegoValue::from)
        .collect();
    p.fill(
        &p.request,
        [
            (&p.k.method, p.method(&r.method)),
            (&p.k.path, RegoValue::from(r.path_only())),
            (&p.k.segments, RegoValue::from(segments)),
            (&p.k.host, opt_str(r.host.as_deref())),
            (&p.k.headers, headers),
            (&p.k.source_ip, opt_str(r.source_ip.as_deref())),
        ],
    )
}

/// `input.device` for a device (the posture stage builds it once per token for `claims` posture
/// and sets `age_s` per request, see [`with_age`]).
pub(crate) fn device_value(d: &DeviceInput) -> RegoValue {
    let opt_bool = |b: Option<bool>| b.map_or(RegoValue::Null, RegoValue::from);
    PARTS.with(|p| {
        let mut o = p.device.clone();
        let values = [
            opt_str(d.id.as_deref()),
            RegoValue::from(d.managed),
            opt_str(d.os.as_deref()),
            opt_str(d.os_version.as_deref()),
            d.patch_age_days.map_or(RegoValue::Null, RegoValue::from),
            opt_bool(d.disk_encrypted),
            opt_bool(d.firewall_enabled),
            opt_bool(d.edr_running),
            opt_bool(d.screen_lock_enabled),
            opt_bool(d.jailbroken),
            RegoValue::from(d.assessed_at),
            RegoValue::from(d.age_s),
            RegoValue::from(d.source.as_str()),
            to_rego(&d.extra),
        ];
        for (k, v) in DEVICE_KEYS.iter().zip(values) {
            if matches!(v, RegoValue::Null) {
                continue;
            }
            if let Some(slot) = o.get_mut(&RegoValue::from(*k)) {
                *slot = v;
            }
        }
        RegoValue::from(o)
    })
}

/// A copy of a device value with `age_s` set. The thread remembers its last answer (holding the
/// base value, so the identity check below cannot be fooled by a reused address): requests
/// with the same token in the same second share one value.
pub(crate) fn with_age(device: &RegoValue, age_s: u64) -> RegoValue {
    let RegoValue::Object(base) = device else {
        return device.clone();
    };
    PARTS.with(|p| {
        let mut last = p.last_device.borrow_mut();
        if let Some((RegoValue::Object(b), age, v)) = &*last
            && std::sync::Arc::ptr_eq(b, base)
            && *age == age_s
        {
            return v.clone();
        }
        let mut o = (**base).clone();
        if let Some(slot) = o.get_mut(&p.k.age_s) {
            *slot = RegoValue::from(age_s);
        }
        let v = RegoValue::from(o);
        *last = Some((device.clone(), age_s, v.clone()));
        v
    })
}

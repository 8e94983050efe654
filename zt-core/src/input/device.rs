//! `input.device`: the device posture the policy sees, and the parser every posture source
//! (token claims, signed assertions, a caller's own JSON) shares.

use serde_json::{Map, Value};

/// The device posture the policy sees (`input.device`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeviceInput {
    /// Device identifier.
    pub id: Option<String>,
    /// Managed by the organisation (MDM-enrolled).
    pub managed: bool,
    /// Operating system family.
    pub os: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Days since the last security patch.
    pub patch_age_days: Option<u64>,
    /// Disk encryption on.
    pub disk_encrypted: Option<bool>,
    /// Firewall on.
    pub firewall_enabled: Option<bool>,
    /// Endpoint detection and response agent running.
    pub edr_running: Option<bool>,
    /// Screen lock on.
    pub screen_lock_enabled: Option<bool>,
    /// Jailbroken or rooted.
    pub jailbroken: Option<bool>,
    /// When the posture was assessed (seconds since the Unix epoch).
    pub assessed_at: u64,
    /// Age of the assessment at decision time, in seconds.
    pub age_s: u64,
    /// Where the posture came from (`claims`, `assertion`, ...).
    pub source: String,
    /// Posture fields zt does not model, kept as given.
    pub extra: Map<String, Value>,
}

impl DeviceInput {
    /// Parse a posture object shaped like `input.device`: modelled fields typed, unknown ones
    /// kept under `extra`. `None` when it is not an object or a modelled field has the wrong
    /// type. `age_s` and `source` are computed by zt and ignored here.
    ///
    /// ```
    /// use zt_core::DeviceInput;
    /// let d = DeviceInput::from_json(&serde_json::json!({"managed": true, "battery": 80})).unwrap();
    /// assert!(d.managed);
    /// assert_eq!(d.extra["battery"], 80);
    /// assert!(DeviceInput::from_json(&serde_json::json!({"managed": "yes"})).is_none());
    /// ```
    pub fn from_json(v: &Value) -> Option<Self> {
        parse_device(v)
    }
}

/// Parse a posture object: modelled fields typed, the rest kept under `extra`.
///
/// Returns `None` when the value is not an object or a modelled field has the wrong type.
pub(crate) fn parse_device(v: &Value) -> Option<DeviceInput> {
    let Value::Object(map) = v else {
        return None;
    };
    let mut d = DeviceInput::default();
    let mut extra = Map::new();
    for (k, v) in map {
        let ok = match k.as_str() {
            "id" => set_opt_str(v, &mut d.id),
            "managed" => match v {
                Value::Bool(b) => {
                    d.managed = *b;
                    true
                }
                Value::Null => true,
                _ => false,
            },
            "os" => set_opt_str(v, &mut d.os),
            "os_version" => set_opt_str(v, &mut d.os_version),
            "patch_age_days" => match v {
                Value::Null => true,
                _ => v.as_u64().map(|n| d.patch_age_days = Some(n)).is_some(),
            },
            "disk_encrypted" => set_opt_bool(v, &mut d.disk_encrypted),
            "firewall_enabled" => set_opt_bool(v, &mut d.firewall_enabled),
            "edr_running" => set_opt_bool(v, &mut d.edr_running),
            "screen_lock_enabled" => set_opt_bool(v, &mut d.screen_lock_enabled),
            "jailbroken" => set_opt_bool(v, &mut d.jailbroken),
            "assessed_at" => v.as_u64().map(|n| d.assessed_at = n).is_some(),
            // Computed by zt; a supplied value is ignored.
            "age_s" | "source" => true,
            "extra" => match v {
                Value::Object(m) => {
                    extra.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
                    true
                }
                _ => false,
            },
            _ => {
                extra.insert(k.clone(), v.clone());
                true
            }
        };
        if !ok {
            return None;
        }
    }
    d.extra = extra;
    Some(d)
}

fn set_opt_str(v: &Value, slot: &mut Option<String>) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => {
            *slot = Some(s.clone());
            true
        }
        _ => false,
    }
}

fn set_opt_bool(v: &Value, slot: &mut Option<bool>) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => {
            *slot = Some(*b);
            true
        }
        _ => false,
    }
}

//! One list of revoked token ids and subjects: the shape of a bundle's `data.zt.revoked` and of
//! the revocation feed's document.

use crate::error::PolicyError;

/// A list of revoked token ids and subjects, from a bundle's `data.zt.revoked` or the feed:
/// `{"token_ids": ["jti", ...], "subjects": [{"issuer": "...", "subject": "..."}, ...]}`.
#[derive(Debug, Default)]
pub(crate) struct RevocationList {
    pub(crate) token_ids: std::collections::HashSet<String>,
    /// `issuer \0 subject`.
    pub(crate) subjects: std::collections::HashSet<String>,
}

impl RevocationList {
    pub(crate) fn parse(data: &serde_json::Value) -> Result<Option<Self>, PolicyError> {
        let Some(v) = data.pointer("/zt/revoked") else {
            return Ok(None);
        };
        Self::from_document(v)
            .map(Some)
            .map_err(|what| PolicyError::Bundle {
                detail: format!("`data.zt.revoked`: {what}"),
            })
    }

    /// Read `{"token_ids": [string], "subjects": [{"issuer", "subject"}]}` (both optional; no
    /// other keys): the bundle's `data.zt.revoked` and the revocation feed's document.
    pub(crate) fn from_document(v: &serde_json::Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("must be an object")?;
        let mut out = Self::default();
        for (k, v) in obj {
            let list = v
                .as_array()
                .ok_or_else(|| format!("`{k}` must be an array"))?;
            match k.as_str() {
                "token_ids" => {
                    for id in list {
                        let id = id.as_str().ok_or("`token_ids` must hold strings")?;
                        out.token_ids.insert(id.to_owned());
                    }
                }
                "subjects" => {
                    for s in list {
                        let field = |f: &str| s.get(f).and_then(serde_json::Value::as_str);
                        let (Some(iss), Some(sub)) = (field("issuer"), field("subject")) else {
                            return Err(
                                "`subjects` must hold {\"issuer\": string, \"subject\": string}"
                                    .to_owned(),
                            );
                        };
                        out.subjects.insert(format!("{iss}\u{0}{sub}"));
                    }
                }
                other => {
                    return Err(format!(
                        "unknown key `{other}` (allowed: token_ids, subjects)"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Whether the token id or the subject is on this list.
    pub(crate) fn check(
        &self,
        jti: Option<&str>,
        subject_key: &mut Option<String>,
        make_key: &dyn Fn() -> String,
    ) -> Option<crate::codes::Reason> {
        if jti.is_some_and(|j| self.token_ids.contains(j)) {
            return Some(crate::codes::Reason::TokenRevoked);
        }
        if !self.subjects.is_empty()
            && self
                .subjects
                .contains(subject_key.get_or_insert_with(make_key))
        {
            return Some(crate::codes::Reason::SubjectRevoked);
        }
        None
    }
}

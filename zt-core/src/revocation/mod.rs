//! Revocation: three sources and the one check a decision makes.
//!
//! - in process: [`Authorizer::revoke_token_id`](crate::Authorizer::revoke_token_id),
//!   [`Authorizer::revoke_subject`](crate::Authorizer::revoke_subject) and their `unrevoke_*`;
//! - the active bundle's (and a rollout candidate's) `data.zt.revoked` ([`RevocationList`],
//!   parsed when the bundle compiles);
//! - the revocation feed (`[revocation] url`, [`feed`]).
//!
//! A token whose `jti` or whose `issuer`+`subject` is on any of them is denied
//! (`token_revoked`, `subject_revoked`). The in-process lists cost one atomic load per
//! decision while they are empty, the feed likewise.

mod feed;
mod list;

pub(crate) use feed::RevocationFeed;
pub use feed::RevocationFeedStatus;
pub(crate) use list::RevocationList;

use crate::codes::Reason;
use crate::policy::PolicyStore;
use crate::token::VerifiedClaims;
use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Revocation lists: the in-process ones (`revoke_*`) and the active bundle's
/// `data.zt.revoked`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RevocationStats {
    /// Token ids revoked in process.
    pub token_ids: u64,
    /// Subjects revoked in process.
    pub subjects: u64,
    /// When the in-process lists last changed (Unix ms, authorizer clock; 0: never).
    pub updated_at_ms: u64,
    /// Token ids in the active bundle's `data.zt.revoked`.
    pub bundle_token_ids: u64,
    /// Subjects in the active bundle's `data.zt.revoked`.
    pub bundle_subjects: u64,
    /// When the active bundle (and so its list) was activated (Unix ms).
    pub bundle_activated_at_ms: u64,
    /// Token ids on the revocation feed's current list (`[revocation]`).
    pub feed_token_ids: u64,
    /// Subjects on the revocation feed's current list.
    pub feed_subjects: u64,
    /// When the feed's current list was applied (Unix ms, system clock; 0: never).
    pub feed_updated_at_ms: u64,
}

/// `issuer \0 subject`: how every list keys a subject.
pub(crate) fn subject_key(issuer: &str, subject: &str) -> String {
    format!("{issuer}\u{0}{subject}")
}

#[derive(Default)]
struct Lists {
    token_ids: HashSet<String>,
    subjects: HashSet<String>,
}

/// The in-process lists and the feed of one authorizer.
pub(crate) struct Revocations {
    local: RwLock<Lists>,
    any_local: AtomicBool,
    /// When the in-process lists last changed (Unix ms, authorizer clock).
    local_at_ms: AtomicU64,
    feed: Option<RevocationFeed>,
}

/// An edit of the in-process lists.
pub(crate) enum Edit<'a> {
    /// Revoke a token id.
    RevokeTokenId(&'a str),
    /// Revoke a subject of an issuer.
    RevokeSubject(&'a str, &'a str),
    /// Lift a token-id revocation.
    UnrevokeTokenId(&'a str),
    /// Lift a subject revocation.
    UnrevokeSubject(&'a str, &'a str),
}

impl Revocations {
    pub(crate) fn new(feed: Option<RevocationFeed>) -> Self {
        Self {
            local: RwLock::new(Lists::default()),
            any_local: AtomicBool::new(false),
            local_at_ms: AtomicU64::new(0),
            feed,
        }
    }

    /// The one check: the bundle's lists, the in-process lists, the feed, in that order.
    pub(crate) fn check(&self, policy: &PolicyStore, claims: &VerifiedClaims) -> Option<Reason> {
        let key = || subject_key(claims.issuer(), claims.subject().unwrap_or(""));
        if let Some(reason) = policy.revoked(claims.jwt_id(), &key) {
            return Some(reason);
        }
        if self.any_local.load(Ordering::Acquire) {
            let r = self.local.read().unwrap_or_else(|p| p.into_inner());
            if claims.jwt_id().is_some_and(|j| r.token_ids.contains(j)) {
                return Some(Reason::TokenRevoked);
            }
            if let Some(sub) = claims.subject()
                && r.subjects.contains(&subject_key(claims.issuer(), sub))
            {
                return Some(Reason::SubjectRevoked);
            }
        }
        self.feed
            .as_ref()
            .and_then(|feed| feed.revoked(claims.jwt_id(), &key))
    }

    /// Apply an edit to the in-process lists at `now_ms`.
    pub(crate) fn edit(&self, edit: Edit<'_>, now_ms: u64) {
        let mut r = self.local.write().unwrap_or_else(|p| p.into_inner());
        match edit {
            Edit::RevokeTokenId(jti) => {
                r.token_ids.insert(jti.to_owned());
            }
            Edit::RevokeSubject(iss, sub) => {
                r.subjects.insert(subject_key(iss, sub));
            }
            Edit::UnrevokeTokenId(jti) => {
                r.token_ids.remove(jti);
            }
            Edit::UnrevokeSubject(iss, sub) => {
                r.subjects.remove(&subject_key(iss, sub));
            }
        }
        let any = !r.token_ids.is_empty() || !r.subjects.is_empty();
        self.any_local.store(any, Ordering::Release);
        drop(r);
        self.local_at_ms.store(now_ms, Ordering::Relaxed);
    }

    /// The feed's state, with `[revocation]`.
    pub(crate) fn feed_status(&self) -> Option<RevocationFeedStatus> {
        self.feed.as_ref().map(RevocationFeed::status)
    }

    /// Stop the feed's poller (idempotent).
    pub(crate) fn stop(&self) {
        if let Some(f) = &self.feed {
            f.stop();
        }
    }

    /// Sizes and times of every list, as plain data.
    pub(crate) fn stats(&self, policy: &PolicyStore) -> RevocationStats {
        let (token_ids, subjects) = {
            let r = self.local.read().unwrap_or_else(|p| p.into_inner());
            (r.token_ids.len() as u64, r.subjects.len() as u64)
        };
        let (bt, bs) = policy.revoked_counts();
        let feed = self.feed_status().unwrap_or_default();
        RevocationStats {
            feed_token_ids: feed.token_ids,
            feed_subjects: feed.subjects,
            feed_updated_at_ms: feed.updated_at_ms,
            token_ids,
            subjects,
            updated_at_ms: self.local_at_ms.load(Ordering::Relaxed),
            bundle_token_ids: bt as u64,
            bundle_subjects: bs as u64,
            bundle_activated_at_ms: policy.activated_at_ms(),
        }
    }
}

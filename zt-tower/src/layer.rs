//! [`ZtLayer`]: configuration shared by every [`Zt`] service it wraps.

use crate::response::{Denial, DenyHook};
use crate::service::Zt;
use std::sync::Arc;
use zt_core::{Authorizer, EnforcementMode};

/// A `tower::Layer` that authorizes every request with a zt [`Authorizer`].
///
/// ```
/// # fn demo(authz: zt_core::Authorizer) {
/// use zt_tower::ZtLayer;
/// let layer = ZtLayer::new(authz)
///     .realm("orders")
///     .skip_path("/healthz")      // exact path
///     .skip_prefix("/public/");   // every path under it
/// # }
/// ```
#[derive(Clone)]
pub struct ZtLayer {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) authz: Authorizer,
    pub(crate) realm: String,
    pub(crate) skip_exact: Vec<String>,
    pub(crate) skip_prefix: Vec<String>,
    pub(crate) mode: Option<EnforcementMode>,
    pub(crate) on_deny: Option<DenyHook>,
}

impl std::fmt::Debug for ZtLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZtLayer")
            .field("realm", &self.shared.realm)
            .field("skip_exact", &self.shared.skip_exact)
            .field("skip_prefix", &self.shared.skip_prefix)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

impl ZtLayer {
    /// A layer deciding with `authz` (realm `zt`, nothing skipped, the authorizer's mode).
    pub fn new(authz: Authorizer) -> Self {
        Self {
            shared: Arc::new(Shared {
                authz,
                realm: "zt".to_owned(),
                skip_exact: Vec::new(),
                skip_prefix: Vec::new(),
                mode: None,
                on_deny: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(s) => f(s),
            None => {
                let s = &*self.shared;
                let mut copy = Shared {
                    authz: s.authz.clone(),
                    realm: s.realm.clone(),
                    skip_exact: s.skip_exact.clone(),
                    skip_prefix: s.skip_prefix.clone(),
                    mode: s.mode,
                    on_deny: s.on_deny.clone(),
                };
                f(&mut copy);
                self.shared = Arc::new(copy);
            }
        }
        self
    }

    /// The `realm` of `WWW-Authenticate` challenges.
    pub fn realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.edit(|s| s.realm = realm)
    }

    /// Let requests for exactly this path through without authorization (health checks).
    pub fn skip_path(self, path: impl Into<String>) -> Self {
        let p = path.into();
        self.edit(|s| s.skip_exact.push(p))
    }

    /// Let requests for every path starting with this prefix through without authorization.
    pub fn skip_prefix(self, prefix: impl Into<String>) -> Self {
        let p = prefix.into();
        self.edit(|s| s.skip_prefix.push(p))
    }

    /// Override the enforcement mode for the routes behind this layer (for example `Warn` on a
    /// route being migrated, with `route_layer`). Only the authorizer's own mode can be made
    /// laxer or stricter here; decisions are still logged with the authorizer's mode.
    pub fn mode(self, mode: EnforcementMode) -> Self {
        self.edit(|s| s.mode = Some(mode))
    }

    /// Replace denial responses; return `None` from the hook to keep zt's own.
    pub fn on_deny(
        self,
        hook: impl Fn(&Denial<'_>) -> Option<http::Response<bytes::Bytes>> + Send + Sync + 'static,
    ) -> Self {
        let hook: DenyHook = Arc::new(hook);
        self.edit(|s| s.on_deny = Some(hook))
    }
}

impl ZtLayer {
    pub(crate) fn wrap<S>(&self, inner: S) -> Zt<S> {
        Zt {
            inner,
            shared: self.shared.clone(),
        }
    }
}

impl<S> tower::Layer<S> for ZtLayer {
    type Service = Zt<S>;

    fn layer(&self, inner: S) -> Zt<S> {
        self.wrap(inner)
    }
}

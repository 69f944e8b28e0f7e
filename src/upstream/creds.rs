//! What Redis says of a client's credentials: checking an AUTH or a new
//! connection's handshake, the refusals and accepted passwords remembered per
//! user, and forgetting a user's connections.

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::{Identity, PipeConn, Target, Upstream, handshake, users};
use crate::protocol::Proto;

impl Upstream {
    /// The passwords this thread saw Redis accept, per user.
    pub fn passwords(&self) -> &users::Passwords {
        &self.common.passwords
    }

    /// Redis's ACL generation.
    pub fn acl(&self) -> &users::Acl {
        &self.common.acl
    }

    /// A new connection of `who`'s (to any master of a cluster), to check its
    /// credentials: its handshake is the check. None for the embedded origin.
    pub fn open_for(&self, who: &Identity, proto: Proto) -> Option<Result<Rc<PipeConn>, Bytes>> {
        match (&self.node, &self.cluster, &self.sentinel) {
            (Some(node), ..) => Some(node.open_for(who, proto)),
            (None, Some(c), _) => Some(c.open_for(who, proto)),
            (None, None, Some(s)) => Some(s.open_for(who, proto)),
            _ => None,
        }
    }

    /// Asks Redis an AUTH as the client sent it (see `handshake::check_auth`);
    /// None with the embedded origin (no Redis users there).
    pub fn check_auth(
        &self,
        args: Vec<Bytes>,
    ) -> Option<impl std::future::Future<Output = Result<Bytes, String>> + use<>> {
        let target: Rc<Target> = match (&self.node, &self.cluster, &self.sentinel) {
            (Some(node), ..) => node.target().clone(),
            (None, Some(c), _) => c.any_master()?,
            (None, None, Some(s)) => s.master_target()?,
            _ => return None,
        };
        let timeout = self.common.connect_timeout.get();
        Some(async move { handshake::check_auth(&target, args, timeout).await })
    }

    /// Redis's refusal of `who`'s credentials in this ACL generation (on the
    /// standalone node, or the master the sentinels name; a cluster's nodes
    /// are asked as requests go).
    pub fn refusal(&self, who: &Identity) -> Option<Bytes> {
        match (&self.node, &self.sentinel) {
            (Some(n), _) => n.refusal(who),
            (None, Some(s)) => s.refusal(who),
            _ => None,
        }
    }

    /// Closes and forgets every connection of a Redis user on this thread.
    pub fn forget_user(&self, user: &Option<Arc<str>>) {
        if let Some(n) = &self.node {
            n.forget_user(user);
        }
        if let Some(c) = &self.cluster {
            c.forget_user(user);
        }
        if let Some(s) = &self.sentinel {
            s.forget_user(user);
        }
    }
}

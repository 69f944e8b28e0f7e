//! Which Redis user may be served which cached reply (ARCHITECTURE.md rule 11).
//!
//! A cached reply is the same bytes for every user, but Redis would refuse some
//! users that command on that key (ACL key patterns, command rules, selectors).
//! Rather than re-implement Redis's ACL rules, hotcache learns from Redis: a
//! user gets a hit only for a command and key that Redis itself answered for
//! that user (not with an error), in the current ACL generation. The first read
//! of each user goes to Redis, which decides; later ones are hits. An MGET is
//! judged as the whole list of keys it names (with selectors, keys allowed one
//! by one may still be refused together).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::users::Identity;

/// Most permits one thread keeps; past it they are all forgotten and learned
/// again (each costs one read going to Redis).
const MAX_PERMITS: usize = 100_000;

/// Per command, per key: the ACL generation Redis answered it in.
type ByCommand = HashMap<u16, HashMap<Box<[u8]>, u64>>;

/// One thread's permits: identity -> command -> key -> ACL generation.
#[derive(Debug, Default)]
pub struct Permits {
    map: RefCell<HashMap<Identity, ByCommand>>,
    len: std::cell::Cell<usize>,
}

impl Permits {
    /// Whether Redis answered `who` command `cmd` on `key` in `generation`.
    pub fn allows(&self, who: &Identity, cmd: u16, key: &[u8], generation: u64) -> bool {
        let map = self.map.borrow();
        map.get(who).and_then(|c| c.get(&cmd)).and_then(|k| k.get(key)) == Some(&generation)
    }

    /// Redis answered `who` command `cmd` on `key`, asked in `generation`.
    pub fn learn(&self, who: &Identity, cmd: u16, key: &[u8], generation: u64) {
        let mut map = self.map.borrow_mut();
        if self.len.get() >= MAX_PERMITS {
            map.clear();
            self.len.set(0);
        }
        let keys = map.entry(who.clone()).or_default().entry(cmd).or_default();
        if keys.insert(Box::from(key), generation).is_none() {
            self.len.set(self.len.get() + 1);
        }
    }

    /// Forgets everything of one identity (its user was deleted or disabled).
    pub fn forget(&self, who: &Identity) {
        if let Some(cmds) = self.map.borrow_mut().remove(who) {
            let n: usize = cmds.values().map(HashMap::len).sum();
            self.len.set(self.len.get().saturating_sub(n));
        }
    }
}

/// The key an MGET is judged by: its keys in order, each with its length.
pub fn key_list(keys: &[bytes::Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keys.iter().map(|k| k.len() + 4).sum());
    for k in keys {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_permit_is_per_user_command_key_and_generation() {
        let p = Permits::default();
        let alice = Identity::User(Some(Arc::from("alice")));
        let bob = Identity::User(Some(Arc::from("bob")));
        p.learn(&alice, 1, b"a:1", 7);
        assert!(p.allows(&alice, 1, b"a:1", 7));
        assert!(!p.allows(&bob, 1, b"a:1", 7), "another user");
        assert!(!p.allows(&alice, 2, b"a:1", 7), "another command");
        assert!(!p.allows(&alice, 1, b"a:2", 7), "another key");
        assert!(!p.allows(&alice, 1, b"a:1", 8), "the ACLs changed since");
        assert!(!p.allows(&Identity::User(None), 1, b"a:1", 7), "no AUTH");
        p.forget(&alice);
        assert!(!p.allows(&alice, 1, b"a:1", 7));
    }

    #[test]
    fn key_lists_do_not_run_together() {
        use bytes::Bytes;
        let a = key_list(&[Bytes::from_static(b"ab"), Bytes::from_static(b"c")]);
        let b = key_list(&[Bytes::from_static(b"a"), Bytes::from_static(b"bc")]);
        assert_ne!(a, b);
    }
}

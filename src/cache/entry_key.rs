//! Entry keys: a command's protocol, id and arguments in one byte string, the
//! key of its cached reply, built in the thread's reused buffer.

use bytes::Bytes;

use super::{ThreadCache, store};
use crate::protocol::Proto;

impl ThreadCache {
    /// Builds the entry key for a command: protocol, command, arguments. The key
    /// is in the thread's buffer until the next call.
    pub fn entry_key(
        &self,
        proto: Proto,
        cmd_id: u16,
        args: &[Bytes],
    ) -> std::cell::Ref<'_, Vec<u8>> {
        {
            let mut k = self.key_buf.borrow_mut();
            k.clear();
            k.push(proto.number() as u8);
            k.extend_from_slice(&cmd_id.to_le_bytes());
            for a in args {
                push_arg(&mut k, a);
            }
        }
        self.key_buf.borrow()
    }

    /// The Redis key (first argument) in an entry key built by [`Self::entry_key`].
    pub fn redis_key(entry_key: &[u8]) -> &[u8] {
        store::redis_key(entry_key)
    }

    /// [`Self::entry_key`] of a command with one argument (the same bytes).
    pub fn entry_key_one(
        &self,
        proto: Proto,
        cmd_id: u16,
        arg: &[u8],
    ) -> std::cell::Ref<'_, Vec<u8>> {
        {
            let mut k = self.key_buf.borrow_mut();
            k.clear();
            k.push(proto.number() as u8);
            k.extend_from_slice(&cmd_id.to_le_bytes());
            push_arg(&mut k, arg);
        }
        self.key_buf.borrow()
    }
}

/// One argument of an entry key: its length as LEB128 (one byte for keys under
/// 128 bytes, which keeps a small entry in a smaller allocation class), then
/// its bytes.
fn push_arg(k: &mut Vec<u8>, a: &[u8]) {
    let mut n = a.len();
    while n >= 0x80 {
        k.push((n as u8) | 0x80);
        n >>= 7;
    }
    k.push(n as u8);
    k.extend_from_slice(a);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cache::CacheShared;
    use crate::config::Config;
    use crate::stats::ShardCounters;

    #[test]
    fn one_argument_entry_keys_are_the_same_bytes() {
        let config = Config::default();
        let counters: Arc<[ShardCounters]> = Arc::from(vec![ShardCounters::default()]);
        let cache = ThreadCache::new(CacheShared::new(&config, 1, false), &config, 0, counters);
        for len in [0, 1, 127, 128, 300, 20_000] {
            let key = vec![b'k'; len];
            for proto in [Proto::Resp2, Proto::Resp3] {
                let many = cache.entry_key(proto, 7, &[Bytes::from(key.clone())]).clone();
                let one = cache.entry_key_one(proto, 7, &key).clone();
                assert_eq!(many, one, "a key of {len} bytes");
                assert_eq!(ThreadCache::redis_key(&one), &key[..]);
            }
        }
    }
}

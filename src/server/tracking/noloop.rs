//! NOLOOP: a client's own writes, whose invalidations it does not get.

use super::{ClientState, Tracking};

impl Tracking {
    /// `id` writes `keys`: with NOLOOP, their invalidations are its own.
    /// Only keys whose invalidation would reach it are noted (one it tracks,
    /// or under one of its prefixes), and returned: each note is taken back
    /// by the invalidation its write causes, or, if none came (the write
    /// changed nothing, failed, or two writes made one invalidation), by
    /// `own_writes_done` once the write's reply is in.
    pub fn own_writes(&self, id: u64, keys: &[&[u8]]) -> Vec<Box<[u8]>> {
        let mut noted = Vec::new();
        if let Some(s) = self.clients.borrow_mut().get_mut(&id)
            && s.on
            && s.noloop
        {
            let before = s.heap();
            for &k in keys {
                let reaches = if s.bcast {
                    s.prefixes.iter().any(|p| k.starts_with(p))
                } else {
                    s.keys.contains(k)
                };
                if reaches {
                    *s.own_writes.entry(Box::from(k)).or_default() += 1;
                    noted.push(Box::from(k));
                }
            }
            self.heap_changed(before, s.heap());
        }
        noted
    }

    /// The write that noted `keys` (`own_writes`) is answered, and its
    /// invalidations, sent by Redis before its reply, applied: what is left
    /// of its notes would otherwise swallow the invalidation of someone
    /// else's later write (the client would keep a stale value).
    pub fn own_writes_done(&self, id: u64, keys: &[Box<[u8]>]) {
        if let Some(s) = self.clients.borrow_mut().get_mut(&id) {
            let before = s.heap();
            for k in keys {
                match s.own_writes.get_mut(k) {
                    Some(n) if *n > 1 => *n -= 1,
                    Some(_) => {
                        s.own_writes.remove(k);
                    }
                    None => {}
                }
            }
            self.heap_changed(before, s.heap());
        }
    }
}

impl ClientState {
    /// NOLOOP: whether an invalidation of `k` is the client's own write (and
    /// so not sent); each own write answers for one.
    pub(super) fn own(&mut self, k: &[u8]) -> bool {
        if !self.noloop {
            return false;
        }
        match self.own_writes.get_mut(k) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.own_writes.remove(k);
                true
            }
            None => false,
        }
    }
}

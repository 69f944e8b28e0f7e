//! The types a connection keeps: its reply queue entries, its lanes, the state
//! it holds on a dedicated connection.

use std::rc::Rc;

use crate::cmd::{Command, Local};
use crate::protocol::Request;
use crate::upstream::{After, Link, PipeConn, ReplySlot};

/// Which upstream connection a forwarded command went on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::server) enum Lane {
    /// Answered by hotcache itself.
    Local,
    Shared,
    Dedicated,
    /// A read another client sent (singleflight): Redis may run it before or
    /// after this client's own commands, so a write waits for it first.
    Foreign,
}

/// What to do with a reply when it reaches the head of the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::server) enum Effect {
    None,
    /// SELECT n: the client is on db n once this succeeds.
    Select(i64),
    /// CLIENT TRACKING on/off: in effect once this succeeds.
    Tracking(bool),
    /// MULTI: if it fails, the client was in a transaction only if it was before.
    Multi {
        was: bool,
    },
    /// INFO: add hotcache's sections to the upstream's text (and drop the
    /// upstream's sections that hotcache's replace).
    AppendInfo(super::super::info::InfoParts),
    /// The reply ends the connection (QUIT, protocol error).
    Close,
    /// EXEC: hotcache's own commands queued in the transaction run now, their
    /// replies spliced into EXEC's array (the first of `Conn::exec_splices`).
    Splice,
    /// CLIENT GETREDIR: Redis's client id becomes the hotcache id of the client
    /// holding that connection.
    MapRedir,
    /// CLIENT TRACKINGINFO: the same for its `redirect` field.
    MapTrackingInfo,
    /// CONFIG GET: hotcache's matching settings join Redis's (the first of
    /// `Conn::config_appends`).
    AppendConfig,
    /// A client tracking push (an invalidation): answers no command, so it
    /// counts in no command's latency, and CLIENT REPLY OFF does not stop it.
    Push,
}

/// One command's place in the reply queue.
pub(in crate::server) struct Pending {
    pub slot: ReplySlot,
    pub lane: Lane,
    pub effect: Effect,
    /// CLIENT REPLY OFF/SKIP: the reply is dropped, not written.
    pub silent: bool,
    /// Where a cache fill's reply goes in this thread's cache.
    pub fill: Option<Box<FillTarget>>,
    /// What it takes to send the request again if its connection fails.
    pub retry: Option<Retry>,
    /// Its command and arrival, to record its latency when the reply is queued.
    pub mark: crate::metrics::Mark,
    /// The request's arguments, kept while it is upstream for SLOWLOG (moved
    /// from the request, not copied; empty when not kept).
    pub args: Vec<bytes::Bytes>,
    /// A reply produced here, waiting behind one that has not arrived:
    /// charged to the client's output limit until it moves to the output
    /// buffer (rule 10: BLPOP then a pipeline of large local replies).
    pub charge: Option<crate::upstream::Charge>,
    /// NOLOOP: the keys this write noted as the client's own; what its
    /// invalidations did not take back is, once it is answered.
    pub own_noted: Option<Box<[Box<[u8]>]>>,
    /// Its request's bytes, counted in `Conn::upstream_bytes` until answered.
    pub sent: usize,
    /// Keys it read while hotcache's tracking stream was down: invalidated
    /// right after its reply (nothing could tell the client of a change).
    pub unsure: Option<Box<[Box<[u8]>]>>,
}

/// A request that may be sent again if its upstream connection fails (rule 7:
/// reads, and writes that provably never left hotcache).
pub(in crate::server) struct Retry {
    pub frame: bytes::Bytes,
    /// Where it went (its cluster slot).
    pub dest: crate::upstream::Dest,
    pub readonly: bool,
    pub attempts: u32,
    /// The error of the failure being retried: the answer if the retry cannot
    /// even be sent (no connection to be had).
    pub error: Option<bytes::Bytes>,
}

impl Retry {
    /// A request not yet retried: `frame` as sent to `dest`; `readonly` if it
    /// may be sent again even after it was written.
    pub fn new(frame: &bytes::Bytes, dest: crate::upstream::Dest, readonly: bool) -> Self {
        Retry { frame: frame.clone(), dest, readonly, attempts: 0, error: None }
    }
}

/// Whether the command being dispatched may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::server) enum RetryKind {
    No,
    /// A read: retried whenever its connection fails.
    Read,
    /// Anything else: retried only if it was never written.
    Write,
}

/// The cache entry a fill may become.
pub(in crate::server) struct FillTarget {
    pub entry_key: std::sync::Arc<[u8]>,
    /// The key was admissible when the read was sent.
    pub admit: bool,
    /// With Redis users: what the reply, if not an error, lets this client's
    /// user be served from the cache from now on (see `cache::permits`).
    pub permit: Option<Permit>,
}

/// A command on a key that Redis answered for an identity, asked in an ACL
/// generation.
pub(in crate::server) struct Permit {
    pub who: crate::upstream::Identity,
    pub cmd: u16,
    pub key: Box<[u8]>,
    pub generation: u64,
}

/// A dedicated upstream connection and the state the client keeps on it.
pub(in crate::server) struct Dedicated {
    pub link: Link,
    /// Commands sent on it and not yet answered.
    pub inflight: usize,
    pub in_multi: bool,
    pub watching: bool,
    pub tracking: bool,
    /// The db selected on it; the client goes back to shared connections only on
    /// the upstream's own db.
    pub db: i64,
    /// Keys written by commands queued in MULTI, invalidated again on EXEC's reply.
    pub tx_after: After,
    /// Commands queued in MULTI so far.
    pub tx_count: usize,
    /// hotcache's own commands queued in MULTI, with their place in it.
    pub tx_locals: Vec<QueuedLocal>,
    /// The client logged in as another user on it: never handed to another
    /// client (its pool is the first user's).
    pub relogged: bool,
    /// A blocking command was sent on it: nothing more of the client's input
    /// runs until everything sent on it is answered (`Conn::blocked`).
    pub blocked: bool,
}

impl Dedicated {
    /// True while the client left state on the connection that keeps it there
    /// (the conditions `Conn::maybe_release` checks, but for commands in flight).
    pub fn pinned(&self) -> bool {
        self.in_multi || self.watching || self.tracking
    }
}

/// A command of hotcache's own queued in a transaction: it runs when EXEC does.
pub(in crate::server) struct QueuedLocal {
    pub position: usize,
    pub local: Local,
    pub command: &'static Command,
    pub req: Request,
}

/// A client relayed to its own upstream connection (SUBSCRIBE, MONITOR): every
/// frame arrives through `Conn::sink`.
pub(in crate::server) struct Relay {
    pub conn: Rc<PipeConn>,
    /// A subscriber (not MONITOR): the pubsub class of the output limits.
    pub pubsub: bool,
    /// RESET was sent: the relay ends when its `+RESET` comes back.
    pub awaiting_reset: bool,
    /// Replies (not pushes) of hotcache's own to drop before the client's:
    /// the CLIENT TRACKING that `start_relay` sent first.
    pub skip: u32,
}

/// How the tracking socket must be synced before the next hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::server) enum NeedSync {
    No,
    /// The input came through a fresh readiness event, so anything the tracking
    /// socket received before it is already marked ready in the reactor: read it
    /// only if so marked (no system call otherwise).
    IfReady,
    /// The input may have been read without a fresh event (the read filled the
    /// buffer): read the tracking socket regardless.
    Full,
}

/// CLIENT REPLY state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::server) enum ReplyMode {
    On,
    Off,
    /// Drop the next command's reply only.
    Skip,
}

/// A MULTI held back until a command says which node the transaction is for
/// (cluster mode: see `cluster::held`).
pub(in crate::server) struct HeldMulti {
    pub multi: Request,
    /// Keyless commands queued so far (answered +QUEUED).
    pub queued: Vec<Request>,
    /// A command was refused while held: EXEC answers EXECABORT.
    pub dirty: bool,
}

impl HeldMulti {
    pub fn new(multi: Request) -> Self {
        Self { multi, queued: Vec::new(), dirty: false }
    }
}

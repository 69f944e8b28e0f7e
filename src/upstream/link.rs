//! What a request is sent on ([`Link`]: a pipelined upstream connection or the
//! embedded origin, called in place) and where its reply is ([`ReplySlot`]).

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{After, Hold, Owed, Parts, PipeConn, Reply, Waiter};
use crate::cache::{Epochs, FillResult, Flight};
use crate::origin::EmbeddedOrigin;
use crate::protocol::{Proto, ReplyBuf, Request};

/// A reply that is either here or on its way.
pub enum ReplySlot {
    Ready(Bytes),
    Wait(oneshot::Receiver<Reply>),
    /// A reply that arrived and is not yet processed.
    Arrived(Reply),
    /// A failed request waiting to be sent again at this time.
    Retry(tokio::time::Instant),
    /// A cache fill (singleflight read) on its way.
    Fill(oneshot::Receiver<FillResult>),
    /// A cache fill that arrived and is not yet installed.
    Filled(FillResult),
}

/// Something a request can be sent on: an upstream connection or the embedded origin.
#[derive(Clone)]
pub enum Link {
    Pipe(Rc<PipeConn>),
    Embedded(Arc<EmbeddedOrigin>, Proto),
}

/// `PTTL key`, sent after a fill's read to learn how long the key lives.
fn pttl(key: &Bytes) -> Request {
    Request::from_args(vec![Bytes::from_static(b"PTTL"), key.clone()])
}

impl Link {
    /// Sends a request; the reply comes back in the slot.
    pub fn send(&self, req: &Request) -> ReplySlot {
        match self {
            Link::Pipe(conn) => ReplySlot::Wait(conn.send(&req.frame)),
            Link::Embedded(origin, proto) => {
                ReplySlot::Ready(run_embedded(origin, *proto, &req.args))
            }
        }
    }

    /// Sends a request; `after` is invalidated once its reply is in; `hold`
    /// says how long it may wait.
    /// `now`: when the request counts as sent (a clock read of the caller's).
    pub fn send_with(
        &self,
        req: &Request,
        after: After,
        epochs: &Epochs,
        hold: Hold,
        now: std::time::Instant,
        owed: &Rc<Owed>,
    ) -> ReplySlot {
        match self {
            Link::Pipe(conn) => {
                ReplySlot::Wait(conn.send_at(&req.frame, after, hold, now, Some(owed)))
            }
            Link::Embedded(origin, proto) => {
                let reply = run_embedded(origin, *proto, &req.args);
                after.apply(epochs);
                ReplySlot::Ready(reply)
            }
        }
    }

    /// Sends a singleflight read (and the PTTL of `key` after it if the flight
    /// wants it); the flight completes with the replies. `client`: a client's
    /// read leads it (see `PipeConn::push_for_client`), not a refresh.
    pub fn send_fill(&self, req: &Request, key: &Bytes, flight: &Arc<Flight>, client: bool) {
        match self {
            Link::Pipe(conn) => {
                let ttl = flight.wants_ttl.then(|| pttl(key).frame);
                let sends = std::iter::once((&req.frame, Waiter::Flight(flight.clone())))
                    .chain(ttl.as_ref().map(|f| (f, Waiter::FlightTtl(flight.clone()))));
                for (frame, waiter) in sends {
                    if client {
                        conn.push_for_client(frame, waiter);
                    } else {
                        conn.push(frame, waiter, After::Nothing);
                    }
                }
            }
            Link::Embedded(origin, proto) => {
                flight.reply(run_embedded(origin, *proto, &req.args));
                if flight.wants_ttl {
                    flight.ttl(&run_embedded(origin, *proto, &pttl(key).args));
                }
            }
        }
    }

    /// Sends an encoded request again (a retry).
    pub fn resend(
        &self,
        frame: &Bytes,
        after: After,
        epochs: &Epochs,
        owed: &Rc<Owed>,
    ) -> ReplySlot {
        match self {
            Link::Pipe(conn) => {
                ReplySlot::Wait(conn.send_with(frame, after, Hold::Timed, Some(owed)))
            }
            // The embedded origin does not fail; nothing is ever resent to it.
            Link::Embedded(..) => {
                after.apply(epochs);
                ReplySlot::Ready(Bytes::from_static(b"-ERR nothing to retry\r\n"))
            }
        }
    }

    /// Sends one part of a client's multi-command request (up to twice
    /// `upstream-max-inflight`, see `PipeConn::push_for_client`).
    pub fn send_part(&self, req: &Request, parts: &Rc<dyn Parts>, index: usize) {
        match self {
            Link::Pipe(conn) => {
                conn.push_for_client(&req.frame, Waiter::Part(parts.clone(), index))
            }
            Link::Embedded(origin, proto) => {
                parts.part(index, run_embedded(origin, *proto, &req.args))
            }
        }
    }

    /// Sends `PTTL key` as a part of a multi-command request.
    pub fn send_pttl_part(&self, key: &Bytes, parts: &Rc<dyn Parts>, index: usize) {
        self.send_part(&pttl(key), parts, index);
    }

    /// True once this link can no longer carry requests.
    pub fn is_dead(&self) -> bool {
        match self {
            Link::Pipe(c) => c.is_dead(),
            Link::Embedded(..) => false,
        }
    }

    /// The node it goes to (none for the embedded origin).
    pub fn addr(&self) -> Option<&str> {
        match self {
            Link::Pipe(c) => Some(c.addr()),
            Link::Embedded(..) => None,
        }
    }

    /// See `PipeConn::is_full`.
    pub fn is_full(&self) -> Option<usize> {
        match self {
            Link::Pipe(c) => c.is_full(),
            Link::Embedded(..) => None,
        }
    }

    /// True if this is the embedded origin.
    pub fn is_embedded(&self) -> bool {
        matches!(self, Link::Embedded(..))
    }

    pub fn close(&self) {
        if let Link::Pipe(c) = self {
            c.close();
        }
    }
}

fn run_embedded(origin: &EmbeddedOrigin, proto: Proto, args: &[Bytes]) -> Bytes {
    let mut out = ReplyBuf::new(proto);
    origin.execute(args, &mut out);
    out.take()
}

//! RESP: the client request parser, the reply framer and reply encoding.
//!
//! Nothing here allocates per value or recurses: requests are checked whole before
//! anything is built, arguments are `Bytes` slices of the read buffer, and every
//! length a peer can claim is bounded before it is trusted.

mod encode;
mod frame;
mod inline;
mod number;
mod request;

pub use encode::{Proto, ReplyBuf};
pub use frame::{FrameError, FrameKind, ReplyFramer, split_array};
pub use inline::split_args;
pub use number::{parse_f64, parse_i64, string2ll};
pub use request::{
    PEEK_GET_MAX_KEY, ParseOutcome, ProtocolError, Request, RequestLimits, RequestParser, peek_get,
};

/// Redis's limit on an inline request line and on a length line (`PROTO_INLINE_MAX_SIZE`).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

//! The embedded origin (placeholder until the real one lands).

use bytes::Bytes;

use crate::protocol::ReplyBuf;

/// A stand-in that knows no command.
#[derive(Debug, Default)]
pub struct EmbeddedOrigin {}

impl EmbeddedOrigin {
    pub fn new() -> Self {
        Self {}
    }

    pub fn execute(&self, args: &[Bytes], out: &mut ReplyBuf) {
        out.error(crate::cmd::unknown_command_error(args));
    }
}

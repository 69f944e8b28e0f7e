//! The GET shortcut: a canonical single-key GET recognised in place, before the
//! parser builds a request for it.

/// Longest key [`peek_get`] takes; longer ones go through the parser.
pub const PEEK_GET_MAX_KEY: usize = 4096;

/// A whole canonical `*2\r\n$3\r\nGET\r\n$<n>\r\n<key>\r\n` at the start of
/// `buf` (GET in any case): the key's span and the request's length, without
/// building a [`Request`](super::Request). Anything else (another command, other line endings,
/// a length with a sign or a leading zero, a key over [`PEEK_GET_MAX_KEY`], an
/// incomplete request) is `None`, and the parser reads it as usual; whatever
/// this accepts, the parser reads as the same GET.
pub fn peek_get(buf: &[u8]) -> Option<(usize, usize, usize)> {
    const HEAD: &[u8] = b"*2\r\n$3\r\n";
    if buf.len() < 19 || &buf[..8] != HEAD || !buf[8..11].eq_ignore_ascii_case(b"get") {
        return None;
    }
    if &buf[11..14] != b"\r\n$" {
        return None;
    }
    let digits = buf[14..].iter().take(5).take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && buf[14] == b'0') {
        return None;
    }
    let after = 14 + digits;
    if buf.get(after..after + 2) != Some(b"\r\n") {
        return None;
    }
    let len = buf[14..after].iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    if len > PEEK_GET_MAX_KEY {
        return None;
    }
    let start = after + 2;
    let end = start + len;
    if buf.get(end..end + 2) != Some(b"\r\n") {
        return None;
    }
    Some((start, end, end + 2))
}

#[cfg(test)]
mod tests {
    use super::super::parse_all;
    use super::*;

    #[test]
    fn peek_get_takes_only_what_the_parser_reads_as_the_same_get() {
        let cases: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n",
            b"*2\r\n$3\r\ngEt\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n",
            b"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\r\na\r\n\r\n",
            b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
        ];
        for input in cases {
            let (s, e, n) = peek_get(input).expect("a GET");
            let (cmds, err, rest) = parse_all(&input[..n]);
            assert!(err.is_none() && rest == 0, "{input:?}");
            assert_eq!(cmds, vec![vec![input[8..11].to_vec(), input[s..e].to_vec()]]);
        }
        let refused: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo",
            b"*2\r\n$3\r\nGET\r\n$03\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$-3\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$3\r\nfoo\n\n",
            b"*2\r\n$3\r\nSET\r\n$3\r\nfoo\r\n",
            b"*3\r\n$3\r\nGET\r\n$3\r\nfoo\r\n",
            b"*2\r\n$3\r\nGET\r\n$99999\r\nfoo\r\n",
            b"GET foo\r\n",
        ];
        for input in refused {
            assert_eq!(peek_get(input), None, "{input:?}");
        }
    }
}

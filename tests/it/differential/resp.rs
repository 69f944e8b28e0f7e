//! A small RESP2/RESP3 reply tree for the comparisons that cannot be byte for
//! byte: parse a reply, normalise the parts that legitimately differ between two
//! servers, encode it again, and compare the encodings.
//!
//! Test code only: replies come from our own servers, so recursion is fine here.

/// One reply value, keeping the RESP type byte so that a RESP2 bulk and a RESP3
/// verbatim string never compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    /// A one-line value: `+ - : _ , # (`, and the nulls `$-1` / `*-1` (kept as
    /// `Line(b'$', "-1")` and `Line(b'*', "-1")`).
    Line(u8, Vec<u8>),
    /// A length-prefixed value: `$` bulk, `=` verbatim, `!` blob error.
    Blob(u8, Vec<u8>),
    /// An aggregate: `*` array, `~` set, `>` push, and `%` map / `|` attribute
    /// flattened to key, value, key, value.
    Agg(u8, Vec<Value>),
}

impl Value {
    /// The text of a string-like value (simple, bulk, verbatim without `txt:`).
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Value::Line(b'+', t) => Some(t),
            Value::Blob(b'$', t) => Some(t),
            Value::Blob(b'=', t) => t.get(4..),
            _ => None,
        }
    }

    /// The integer of a `:` reply.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Line(b':', t) => std::str::from_utf8(t).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// Elements of an aggregate (a map's flattened pairs included).
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Agg(_, v) => Some(v),
            _ => None,
        }
    }

    pub fn items_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Agg(_, v) => Some(v),
            _ => None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Line(t, text) => {
                out.push(*t);
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Value::Blob(t, body) => {
                out.push(*t);
                out.extend_from_slice(body.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
                out.extend_from_slice(b"\r\n");
            }
            Value::Agg(t, items) => {
                let n = if matches!(t, b'%' | b'|') { items.len() / 2 } else { items.len() };
                out.push(*t);
                out.extend_from_slice(n.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for i in items {
                    i.encode(out);
                }
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Parses exactly one reply that fills `buf`.
pub fn parse(buf: &[u8]) -> Result<Value, String> {
    let (v, used) = parse_at(buf, 0)?;
    if used != buf.len() {
        return Err(format!("{} bytes after the reply", buf.len() - used));
    }
    Ok(v)
}

fn line(buf: &[u8], pos: usize) -> Result<(&[u8], usize), String> {
    let rest = buf.get(pos + 1..).ok_or("truncated reply")?;
    let nl = rest.windows(2).position(|w| w == b"\r\n").ok_or("reply line without CRLF")?;
    Ok((&rest[..nl], pos + 1 + nl + 2))
}

fn number(text: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(text)))
}

fn parse_at(buf: &[u8], pos: usize) -> Result<(Value, usize), String> {
    let t = *buf.get(pos).ok_or("empty reply")?;
    let (text, next) = line(buf, pos)?;
    match t {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok((Value::Line(t, text.to_vec()), next)),
        b'$' | b'=' | b'!' => {
            let n = number(text)?;
            if n < 0 {
                return Ok((Value::Line(t, text.to_vec()), next));
            }
            let end = next + n as usize;
            let body = buf.get(next..end).ok_or("truncated bulk")?;
            if buf.get(end..end + 2) != Some(b"\r\n") {
                return Err("bulk not followed by CRLF".into());
            }
            Ok((Value::Blob(t, body.to_vec()), end + 2))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = number(text)?;
            if n < 0 {
                return Ok((Value::Line(t, text.to_vec()), next));
            }
            let count = if matches!(t, b'%' | b'|') { 2 * n } else { n };
            let mut items = Vec::with_capacity(count as usize);
            let mut at = next;
            for _ in 0..count {
                let (v, after) = parse_at(buf, at)?;
                items.push(v);
                at = after;
            }
            Ok((Value::Agg(t, items), at))
        }
        other => Err(format!("unknown reply type byte {other:#04x}")),
    }
}

/// Sorts the elements of a top-level aggregate: for replies whose order Redis
/// does not define (members of a hashtable-encoded set, KEYS, ...).
pub fn sort_items(v: &mut Value) {
    if let Value::Agg(_, items) = v {
        items.sort();
    }
}

/// Sorts the field/value pairs of a top-level map or flat pair array (HGETALL of
/// a hashtable-encoded hash).
pub fn sort_pairs(v: &mut Value) {
    if let Value::Agg(_, items) = v {
        let mut pairs: Vec<Vec<Value>> = items.chunks(2).map(|c| c.to_vec()).collect();
        pairs.sort();
        *items = pairs.into_iter().flatten().collect();
    }
}

/// Replaces, anywhere in the tree, the value that follows a key named in `keys`
/// (in maps and in RESP2's flat key/value arrays) by a marker.
pub fn mask_fields(v: &mut Value, keys: &[&str]) {
    if let Value::Agg(_, items) = v {
        let mut i = 0;
        while i < items.len() {
            let masked = items[i].text().is_some_and(|t| keys.iter().any(|k| k.as_bytes() == t));
            if masked && i + 1 < items.len() {
                items[i + 1] = Value::Line(b'+', b"<masked>".to_vec());
                i += 2;
                continue;
            }
            mask_fields(&mut items[i], keys);
            i += 1;
        }
    }
}

/// Sorts, anywhere in the tree, the aggregate that follows a key named in
/// `keys` (FUNCTION LIST's `functions`, kept in a hash table).
pub fn sort_fields(v: &mut Value, keys: &[&str]) {
    if let Value::Agg(_, items) = v {
        let mut sort_next = false;
        for item in items.iter_mut() {
            if sort_next {
                sort_items(item);
            }
            sort_next = item.text().is_some_and(|t| keys.iter().any(|k| k.as_bytes() == t));
            sort_fields(item, keys);
        }
    }
}

/// Sorts COMMAND / COMMAND INFO output: the commands, and in each command its
/// subcommands (the tenth field), both kept in hash tables.
pub fn sort_command_table(v: &mut Value) {
    if let Value::Agg(_, commands) = v {
        for c in commands.iter_mut() {
            if let Value::Agg(_, fields) = c
                && fields.len() == 10
            {
                sort_command_table(&mut fields[9]);
            }
        }
        commands.sort();
    }
}

/// Masks, anywhere in the tree, integers that are Unix times in milliseconds
/// (stream delivery and seen times).
pub fn mask_timestamps(v: &mut Value) {
    match v {
        Value::Line(b':', _) if v.int().is_some_and(|n| n >= 1_000_000_000_000) => {
            *v = Value::Line(b'+', b"<time>".to_vec());
        }
        Value::Agg(_, items) => items.iter_mut().for_each(mask_timestamps),
        _ => {}
    }
}

/// Readable form of reply bytes for failure messages (long replies shortened).
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let s: String =
        bytes.iter().flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect();
    if s.len() > MAX { format!("{}... ({} bytes)", &s[..MAX], bytes.len()) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let inputs: [&[u8]; 6] = [
            b"+OK\r\n",
            b"$-1\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"%1\r\n$1\r\nk\r\n,1.5\r\n",
            b"~2\r\n_\r\n#t\r\n",
            b"=8\r\ntxt:abcd\r\n",
        ];
        for i in inputs {
            assert_eq!(parse(i).expect("parse").to_bytes(), i.to_vec());
        }
    }
}

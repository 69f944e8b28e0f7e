//! Glob matching exactly as Redis's `stringmatchlen` (util.c) does it for KEYS and
//! SCAN MATCH, quirks included.
//!
//! Redis matches recursively; this matches iteratively over the same tokens (so a
//! pattern of many `*` cannot exhaust the stack) and gives the same answers:
//!
//! - `?` matches one byte, `*` any run of bytes, `\x` the byte `x`;
//! - `[...]` is a class: `^` first negates it, `a-z` is a range (ends may come in
//!   either order), `\x` inside is a literal `x`, and a class left open at the end
//!   of the pattern runs to the end (`[a-]` is the range `a` to `]`);
//! - bytes compare as C `char`, which is signed on the platforms Redis ships for,
//!   so in a range bytes 0x80..=0xFF sort *before* 0x00;
//! - the loop stops as soon as the subject is used up, so an empty subject matches
//!   only the empty pattern (KEYS `*` still lists an empty key because Redis skips
//!   matching entirely for the pattern `*`).

/// One step of a pattern: either `*` or something that consumes exactly one byte.
#[derive(Clone, Copy, Debug)]
enum Token {
    Star,
    Any,
    Byte(u8),
    /// A class: the pattern bytes between `[` (and `^`) and its end, and whether it
    /// is negated. Matching re-reads them as Redis does.
    Class {
        start: usize,
        end: usize,
        negate: bool,
    },
}

/// The pattern byte at `i`, or 0 past the end: Redis reads the NUL terminator of
/// its sds strings in a few places, and this reproduces what it then sees.
fn at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

/// A byte as a C `char` on x86 and ARM Linux builds of Redis (signed).
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

/// Splits `p` into tokens the way `stringmatchlen` walks it.
fn tokenize(p: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => {
                // Runs of stars are one star.
                if !matches!(out.last(), Some(Token::Star)) {
                    out.push(Token::Star);
                }
                i += 1;
            }
            b'?' => {
                out.push(Token::Any);
                i += 1;
            }
            b'[' => {
                let mut j = i + 1;
                let negate = at(p, j) == b'^';
                if negate {
                    j += 1;
                }
                let start = j;
                // Walk to the closing `]` with the same steps Redis takes, so an
                // escaped `]` or a range ending in `]` does not close the class.
                loop {
                    if j >= p.len() {
                        break;
                    }
                    if p[j] == b'\\' && p.len() - j >= 2 {
                        j += 2;
                    } else if p[j] == b']' {
                        break;
                    } else if p.len() - j >= 3 && p[j + 1] == b'-' {
                        j += 3;
                    } else {
                        j += 1;
                    }
                }
                let end = j.min(p.len());
                out.push(Token::Class { start, end, negate });
                i = end + 1;
            }
            b'\\' if p.len() - i >= 2 => {
                out.push(Token::Byte(p[i + 1]));
                i += 2;
            }
            c => {
                out.push(Token::Byte(c));
                i += 1;
            }
        }
    }
    out
}

/// Whether the class `p[start..end]` contains `c`, by Redis's reading of it.
fn class_has(p: &[u8], start: usize, end: usize, c: u8) -> bool {
    let mut j = start;
    let mut hit = false;
    while j < end {
        if p[j] == b'\\' && p.len() - j >= 2 {
            hit |= at(p, j + 1) == c;
            j += 2;
        } else if p.len() - j >= 3 && p[j + 1] == b'-' {
            let (mut lo, mut hi) = (signed(p[j]), signed(p[j + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            hit |= (lo..=hi).contains(&signed(c));
            j += 3;
        } else {
            hit |= p[j] == c;
            j += 1;
        }
    }
    hit
}

fn token_matches(p: &[u8], t: Token, c: u8) -> bool {
    match t {
        Token::Star => true,
        Token::Any => true,
        Token::Byte(b) => b == c,
        Token::Class { start, end, negate } => class_has(p, start, end, c) != negate,
    }
}

/// True if `subject` matches the glob `pattern` (case-sensitive), as Redis decides.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    if subject.is_empty() {
        return pattern.is_empty();
    }
    let tokens = tokenize(pattern);
    let (mut ti, mut si) = (0usize, 0usize);
    // The last `*` seen and the subject position it is currently standing for: every
    // token after a star consumes exactly one byte, so retrying from the latest star
    // one byte further is enough (the classic linear-backtracking glob match).
    let mut star: Option<(usize, usize)> = None;
    while si < subject.len() {
        match tokens.get(ti) {
            Some(Token::Star) => {
                star = Some((ti, si));
                ti += 1;
            }
            Some(&t) if token_matches(pattern, t, subject[si]) => {
                ti += 1;
                si += 1;
            }
            _ => match star {
                Some((st, ss)) => {
                    star = Some((st, ss + 1));
                    ti = st + 1;
                    si = ss + 1;
                }
                None => return false,
            },
        }
    }
    tokens[ti.min(tokens.len())..].iter().all(|t| matches!(t, Token::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line-by-line port of Redis 7.0's recursive `stringmatchlen_impl` (case
    /// sensitive), used as the oracle for the iterative matcher above.
    fn redis(p: &[u8], s: &[u8]) -> bool {
        fn imp(p: &[u8], mut pi: usize, s: &[u8], mut si: usize, skip: &mut bool) -> bool {
            let mut plen = p.len() - pi;
            let mut slen = s.len() - si;
            while plen > 0 && slen > 0 {
                match p[pi] {
                    b'*' => {
                        while plen > 0 && at(p, pi + 1) == b'*' {
                            pi += 1;
                            plen -= 1;
                        }
                        if plen == 1 {
                            return true;
                        }
                        while slen > 0 {
                            if imp(p, pi + 1, s, si, skip) {
                                return true;
                            }
                            if *skip {
                                return false;
                            }
                            si += 1;
                            slen -= 1;
                        }
                        *skip = true;
                        return false;
                    }
                    b'?' => {
                        si += 1;
                        slen -= 1;
                    }
                    b'[' => {
                        pi += 1;
                        plen -= 1;
                        let not = at(p, pi) == b'^';
                        if not {
                            pi += 1;
                            plen -= 1;
                        }
                        let mut hit = false;
                        loop {
                            if at(p, pi) == b'\\' && plen >= 2 {
                                pi += 1;
                                plen -= 1;
                                if at(p, pi) == s[si] {
                                    hit = true;
                                }
                            } else if at(p, pi) == b']' {
                                break;
                            } else if plen == 0 {
                                pi -= 1;
                                plen += 1;
                                break;
                            } else if plen >= 3 && at(p, pi + 1) == b'-' {
                                let (mut a, mut b) = (signed(at(p, pi)), signed(at(p, pi + 2)));
                                if a > b {
                                    std::mem::swap(&mut a, &mut b);
                                }
                                pi += 2;
                                plen -= 2;
                                if signed(s[si]) >= a && signed(s[si]) <= b {
                                    hit = true;
                                }
                            } else if at(p, pi) == s[si] {
                                hit = true;
                            }
                            pi += 1;
                            plen -= 1;
                        }
                        if not {
                            hit = !hit;
                        }
                        if !hit {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                    c => {
                        let c = if c == b'\\' && plen >= 2 {
                            pi += 1;
                            plen -= 1;
                            p[pi]
                        } else {
                            c
                        };
                        if c != s[si] {
                            return false;
                        }
                        si += 1;
                        slen -= 1;
                    }
                }
                pi += 1;
                plen -= 1;
                if slen == 0 {
                    while at(p, pi) == b'*' {
                        pi += 1;
                        plen -= 1;
                    }
                    break;
                }
            }
            plen == 0 && slen == 0
        }
        imp(p, 0, s, 0, &mut false)
    }

    #[test]
    fn examples() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"*", b"abc", true),
            (b"a*", b"abc", true),
            (b"*c", b"abc", true),
            (b"a?c", b"abc", true),
            (b"a?c", b"ac", false),
            (b"h[ae]llo", b"hello", true),
            (b"h[^e]llo", b"hello", false),
            (b"[a-c]x", b"bx", true),
            (b"[c-a]x", b"bx", true),
            (b"\\*", b"*", true),
            (b"\\*", b"a", false),
            (b"[\\]]", b"]", true),
            (b"[a-]", b"]", true),
            (b"[]", b"]", false),
            (b"[]a]", b"a]", false),
            (b"ab[", b"abz", false),
            (b"ab[^", b"abz", true),
            (b"\\", b"\\", true),
            (b"[\x00-\x7f]", b"\xff", false),
            (b"[\x80-a]", b"\xff", true),
            (b"[a-\xff]", b"]", true),
            (b"[a-\xff]", b"b", false),
            (b"[a-z]", b"\xe9", false),
            (b"*a*b*c*", b"xxaxxbxxcxx", true),
            (b"", b"", true),
            (b"*", b"", false),
            (b"**", b"", false),
        ];
        for &(p, s, want) in cases {
            assert_eq!(matches(p, s), want, "pattern {p:?} subject {s:?}");
            assert_eq!(redis(p, s), want, "oracle: pattern {p:?} subject {s:?}");
        }
    }

    /// Every pattern and subject over a small alphabet up to a few bytes: the
    /// iterative matcher must agree with the port of Redis's recursive one.
    #[test]
    fn agrees_with_redis_exhaustively() {
        let pat_alphabet: &[u8] = b"a*?[]^-\\\xff";
        let sub_alphabet: &[u8] = b"a]-\xff";
        let mut pats: Vec<Vec<u8>> = vec![Vec::new()];
        let mut all_pats = vec![Vec::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &pats {
                for &c in pat_alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    next.push(q);
                }
            }
            all_pats.extend(next.iter().cloned());
            pats = next;
        }
        let mut subs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut all_subs = vec![Vec::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &subs {
                for &c in sub_alphabet {
                    let mut q = s.clone();
                    q.push(c);
                    next.push(q);
                }
            }
            all_subs.extend(next.iter().cloned());
            subs = next;
        }
        for p in &all_pats {
            for s in &all_subs {
                assert_eq!(matches(p, s), redis(p, s), "pattern {p:?} subject {s:?}");
            }
        }
    }

    #[test]
    fn many_stars_do_not_recurse() {
        let p: Vec<u8> = b"*a".iter().copied().cycle().take(200_000).collect();
        assert!(!matches(&p, b"aaaaaaaaaa"));
        assert!(matches(&p[..20], b"aaaaaaaaaa"));
    }
}

//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO when hotcache serves
//! tracking itself, parsed and answered as Redis 7.0 does (`clientCommand`).

use bytes::Bytes;

use crate::protocol::{Request, string2ll};
use crate::server::conn::Conn;

/// CLIENT TRACKING's options.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Bytes>,
}

/// Parses the options after `CLIENT TRACKING on|off`, as Redis does (the
/// redirect target checked to exist with `exists`).
pub fn parse(args: &[Bytes], exists: impl Fn(u64) -> bool) -> Result<Options, Vec<u8>> {
    let mut o = Options::default();
    let mut j = 0;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        if a.eq_ignore_ascii_case(b"redirect") && more > 0 {
            j += 1;
            if o.redirect != 0 {
                return Err(b"ERR A client can only redirect to a single other client".to_vec());
            }
            let id = string2ll(&args[j])
                .ok_or_else(|| b"ERR value is not an integer or out of range".to_vec())?;
            // Redis's lookup finds no client 0 or below.
            match u64::try_from(id) {
                Ok(id) if id > 0 && exists(id) => o.redirect = id,
                _ => {
                    return Err(b"ERR The client ID you want redirect to does not exist".to_vec());
                }
            }
        } else if a.eq_ignore_ascii_case(b"bcast") {
            o.bcast = true;
        } else if a.eq_ignore_ascii_case(b"optin") {
            o.optin = true;
        } else if a.eq_ignore_ascii_case(b"optout") {
            o.optout = true;
        } else if a.eq_ignore_ascii_case(b"noloop") {
            o.noloop = true;
        } else if a.eq_ignore_ascii_case(b"prefix") && more > 0 {
            j += 1;
            o.prefixes.push(args[j].clone());
        } else {
            return Err(b"ERR syntax error".to_vec());
        }
        j += 1;
    }
    Ok(o)
}

/// Redis's checks before turning tracking on, given the client's state now
/// (tracking on, BCAST, OPTIN, OPTOUT, its prefixes).
pub fn check_on(o: &Options, now: Option<(bool, bool, bool, &[Bytes])>) -> Result<(), Vec<u8>> {
    if !o.bcast && !o.prefixes.is_empty() {
        return Err(b"ERR PREFIX option requires BCAST mode to be enabled".to_vec());
    }
    if let Some((bcast, _, _, _)) = now
        && bcast != o.bcast
    {
        return Err(b"ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".to_vec());
    }
    if o.bcast && (o.optin || o.optout) {
        return Err(b"ERR OPTIN and OPTOUT are not compatible with BCAST".to_vec());
    }
    if o.optin && o.optout {
        return Err(b"ERR You can't specify both OPTIN mode and OPTOUT mode".to_vec());
    }
    if let Some((_, optin, optout, _)) = now
        && ((o.optin && optout) || (o.optout && optin))
    {
        return Err(b"ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".to_vec());
    }
    if o.bcast {
        let existing = now.map(|n| n.3).unwrap_or(&[]);
        for (i, p) in o.prefixes.iter().enumerate() {
            let overlap =
                |a: &[u8], b: &[u8]| a[..a.len().min(b.len())] == b[..a.len().min(b.len())];
            // Redis's words, naming the two prefixes.
            let refuse = |with: &str, other: &[u8]| {
                let mut m = b"ERR Prefix '".to_vec();
                m.extend_from_slice(p);
                m.extend_from_slice(format!("' overlaps with {with} prefix '").as_bytes());
                m.extend_from_slice(other);
                m.extend_from_slice(b"'. Prefixes for a single client must not overlap.");
                Err(m)
            };
            if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
                return refuse("an existing", e);
            }
            if let Some(q) = o.prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                return refuse("another provided", q);
            }
        }
    }
    Ok(())
}

impl Conn {
    /// True when hotcache can serve this client's tracking itself: its own
    /// tracking stream sees every key (no `cache-tracking-prefixes`), and the
    /// client does not track at Redis already (it turned tracking on when
    /// hotcache could not serve it).
    /// (With the streams up at the moment it turns tracking on; a client
    /// tracking with hotcache stays with hotcache, whatever the streams do
    /// after: a lost stream is a null invalidation to it, and another when it
    /// is back.)
    pub(in crate::server) fn tracking_served(&self) -> bool {
        if self.ctx.tracking.with(self.info().id, |_| ()).is_some() {
            return true;
        }
        self.ctx.shared.tracks_everything()
            && self.ctx.shared.cache.tracking_now().is_some()
            && !self.dedicated.as_ref().is_some_and(|d| d.tracking)
    }

    /// CLIENT TRACKING on|off [options].
    pub(in crate::server) fn client_tracking(&mut self, req: &Request) -> bool {
        let args = &req.args;
        let clients = self.ctx.shared.clients.clone();
        let o = match parse(&args[3..], |id| clients.get(id).is_some()) {
            Ok(o) => o,
            Err(e) => return self.reply_error(&e),
        };
        let id = self.info().id;
        if args[2].eq_ignore_ascii_case(b"on") {
            let now = self
                .ctx
                .tracking
                .with(id, |s| (s.on, s.bcast, s.optin, s.optout, s.prefixes.clone()));
            let now_ref = now.as_ref().filter(|n| n.0).map(|n| (n.1, n.2, n.3, &n.4[..]));
            if let Err(e) = check_on(&o, now_ref) {
                return self.reply_error(&e);
            }
            self.ctx.tracking.enable(id, &o, self.proto);
        } else if args[2].eq_ignore_ascii_case(b"off") {
            self.ctx.tracking.disable(id);
        } else {
            return self.reply_error(b"ERR syntax error");
        }
        self.reply_raw(Bytes::from_static(b"+OK\r\n"))
    }

    /// CLIENT CACHING yes|no.
    pub(in crate::server) fn client_caching(&mut self, req: &Request) -> bool {
        let id = self.info().id;
        let Some((on, optin, optout)) = self.ctx.tracking.with(id, |s| (s.on, s.optin, s.optout))
        else {
            return self.reply_error(b"ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        };
        if !on {
            return self.reply_error(b"ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
        }
        let opt = &req.args[2];
        if opt.eq_ignore_ascii_case(b"yes") {
            if !optin {
                return self.reply_error(
                    b"ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
            }
        } else if opt.eq_ignore_ascii_case(b"no") {
            if !optout {
                return self.reply_error(
                    b"ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
            }
        } else {
            return self.reply_error(b"ERR syntax error");
        }
        self.ctx.tracking.with(id, |s| s.caching = true);
        self.reply_raw(Bytes::from_static(b"+OK\r\n"))
    }

    /// CLIENT GETREDIR: the client it redirects to (0: none), -1 when not
    /// tracking.
    pub(in crate::server) fn client_getredir(&mut self) -> bool {
        let id = self.info().id;
        let r = match self.ctx.tracking.with(id, |s| (s.on, s.redirect)) {
            Some((true, r)) => r as i64,
            _ => -1,
        };
        self.reply_with(|o| {
            o.int(r);
        })
    }

    /// CLIENT TRACKINGINFO: flags, redirect, prefixes, as Redis lists them.
    pub(in crate::server) fn client_trackinginfo(&mut self) -> bool {
        let id = self.info().id;
        let state = self.ctx.tracking.with(id, |s| {
            let mut flags: Vec<&'static [u8]> = vec![if s.on { b"on" } else { b"off" }];
            if s.on && s.bcast {
                flags.push(b"bcast");
            }
            if s.on && s.optin {
                flags.push(b"optin");
                if s.caching {
                    flags.push(b"caching-yes");
                }
            }
            if s.on && s.optout {
                flags.push(b"optout");
                if s.caching {
                    flags.push(b"caching-no");
                }
            }
            if s.on && s.noloop {
                flags.push(b"noloop");
            }
            if s.on && s.broken {
                flags.push(b"broken_redirect");
            }
            let redirect = if s.on { s.redirect as i64 } else { -1 };
            let mut prefixes = if s.on && s.bcast { s.prefixes.clone() } else { Vec::new() };
            // Redis keeps them in a radix tree: listed in byte order.
            prefixes.sort();
            (flags, redirect, prefixes)
        });
        let (flags, redirect, prefixes) =
            state.unwrap_or_else(|| (vec![&b"off"[..]], -1, Vec::new()));
        self.reply_with(|o| {
            o.map(3);
            o.bulk(b"flags").set(flags.len());
            for f in &flags {
                o.bulk(f);
            }
            o.bulk(b"redirect").int(redirect);
            o.bulk(b"prefixes").array(prefixes.len());
            for p in &prefixes {
                o.bulk(p);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn options_as_redis_parses_them() {
        let o =
            parse(&b(&["REDIRECT", "7", "BCAST", "PREFIX", "a", "prefix", "b", "NOLOOP"]), |_| {
                true
            })
            .expect("valid");
        assert_eq!(o.redirect, 7);
        assert!(o.bcast && o.noloop);
        assert_eq!(o.prefixes, b(&["a", "b"]));
        let err =
            |args: &[&str]| String::from_utf8(parse(&b(args), |id| id == 7).unwrap_err()).unwrap();
        assert_eq!(
            err(&["REDIRECT", "8"]),
            "ERR The client ID you want redirect to does not exist"
        );
        assert_eq!(err(&["REDIRECT", "x"]), "ERR value is not an integer or out of range");
        assert_eq!(
            err(&["REDIRECT", "7", "REDIRECT", "7"]),
            "ERR A client can only redirect to a single other client"
        );
        assert_eq!(err(&["PREFIX"]), "ERR syntax error");
        assert_eq!(err(&["bogus"]), "ERR syntax error");
    }

    #[test]
    fn checks_as_redis_makes_them() {
        let o = |args: &[&str]| parse(&b(args), |_| true).expect("valid");
        let err = |o: &Options, now| String::from_utf8(check_on(o, now).unwrap_err()).unwrap();
        assert!(err(&o(&["PREFIX", "a"]), None).starts_with("ERR PREFIX option requires BCAST"));
        assert!(
            err(&o(&["BCAST", "OPTIN"]), None)
                .starts_with("ERR OPTIN and OPTOUT are not compatible")
        );
        assert!(err(&o(&["OPTIN", "OPTOUT"]), None).starts_with("ERR You can't specify both"));
        assert!(
            err(&o(&["BCAST"]), Some((false, false, false, &[][..])))
                .starts_with("ERR You can't switch BCAST")
        );
        assert!(
            err(&o(&["OPTIN"]), Some((false, false, true, &[][..])))
                .starts_with("ERR You can't switch OPTIN/OPTOUT")
        );
        let existing = b(&["BAR"]);
        assert_eq!(
            err(&o(&["BCAST", "PREFIX", "BARB"]), Some((true, false, false, &existing[..]))),
            "ERR Prefix 'BARB' overlaps with an existing prefix 'BAR'. Prefixes for a single client must not overlap."
        );
        assert_eq!(
            err(&o(&["BCAST", "PREFIX", "FOO", "PREFIX", "FOOB"]), None),
            "ERR Prefix 'FOO' overlaps with another provided prefix 'FOOB'. Prefixes for a single client must not overlap."
        );
        assert!(check_on(&o(&["BCAST", "PREFIX", "a", "PREFIX", "b"]), None).is_ok());
    }
}

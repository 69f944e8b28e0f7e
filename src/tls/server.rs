//! The client-facing TLS configuration, built from Redis's `tls-*` settings.
//!
//! Built at start and again on every CONFIG SET of a `tls-*` setting: the new
//! configuration is used by connections accepted from then on, and a build that
//! fails (a file that does not load) leaves the old one and the old settings in
//! place, as Redis's `tlsConfigure` does.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};

use super::load;
use crate::config::{Config, TlsAuthClients};

/// Builds the configuration TLS clients are served with. The error says what
/// failed, in Redis's log wording where Redis has one.
pub fn server_config(c: &Config) -> Result<Arc<ServerConfig>, String> {
    if c.tls_cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    if c.tls_key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    let ca_given = !c.tls_ca_cert_file.is_empty() || !c.tls_ca_cert_dir.is_empty();
    if c.tls_auth_clients != TlsAuthClients::No && !ca_given {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when \
                    tls-auth-clients is enabled!"
            .into());
    }
    let (provider, versions) = provider(c)?;
    let provider = Arc::new(provider);
    let verifier = match c.tls_auth_clients {
        TlsAuthClients::No => WebPkiClientVerifier::no_client_auth(),
        auth => {
            let roots = Arc::new(load::roots(&c.tls_ca_cert_file, &c.tls_ca_cert_dir)?);
            let b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let b = if auth == TlsAuthClients::Optional { b.allow_unauthenticated() } else { b };
            b.build().map_err(|e| format!("Failed to configure client verification: {e}"))?
        }
    };
    let certs = load::certs(&c.tls_cert_file)?;
    let key = load::key(&c.tls_key_file, &c.tls_key_file_pass)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("Failed to configure TLS: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("Failed to load private key: {}: {e}", c.tls_key_file))?;
    // Redis's default session cache size (`tls-session-cache-size`), so that
    // clients that reconnect often resume instead of a full handshake.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(20 * 1024);
    Ok(Arc::new(config))
}

/// The *ring* provider cut down to the suites `tls-ciphers` and
/// `tls-ciphersuites` name, and the versions `tls-protocols` names that are
/// left with a suite.
fn provider(
    c: &Config,
) -> Result<(CryptoProvider, Vec<&'static SupportedProtocolVersion>), String> {
    let (tls12, tls13) = protocols(&c.tls_protocols)?;
    let mut suites = Vec::new();
    if tls13 {
        suites.extend(
            pick(&c.tls_ciphersuites, true).map_err(|()| {
                format!("Failed to configure ciphersuites: {}", c.tls_ciphersuites)
            })?,
        );
    }
    if tls12 {
        suites.extend(
            pick(&c.tls_ciphers, false)
                .map_err(|()| format!("Failed to configure ciphers: {}", c.tls_ciphers))?,
        );
    }
    let mut versions = Vec::new();
    if suites.iter().any(|s| matches!(s, SupportedCipherSuite::Tls13(_))) {
        versions.push(&rustls::version::TLS13);
    }
    if suites.iter().any(|s| matches!(s, SupportedCipherSuite::Tls12(_))) {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err("Failed to configure ciphers: no cipher suite left for the protocols".into());
    }
    let provider =
        CryptoProvider { cipher_suites: suites, ..rustls::crypto::ring::default_provider() };
    Ok((provider, versions))
}

/// Which of TLS 1.2 and 1.3 `tls-protocols` turns on (Redis's syntax; TLS 1.0
/// and 1.1 are accepted and never offered: rustls has neither).
fn protocols(s: &str) -> Result<(bool, bool), String> {
    if s.trim().is_empty() {
        return Ok((true, true));
    }
    let (mut tls12, mut tls13) = (false, false);
    for word in s.split_whitespace() {
        match word.to_ascii_lowercase().as_str() {
            "tlsv1" | "tlsv1.1" => {}
            "tlsv1.2" => tls12 = true,
            "tlsv1.3" => tls13 = true,
            _ => {
                return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', \
                            'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'."
                    .into());
            }
        }
    }
    if !(tls12 || tls13) {
        return Err("tls-protocols names no version hotcache has (TLSv1.2, TLSv1.3)".into());
    }
    Ok((tls12, tls13))
}

/// Every suite hotcache has: OpenSSL's name, IANA's name, the suite.
fn suites() -> [(&'static str, &'static str, SupportedCipherSuite); 9] {
    use rustls::crypto::ring::cipher_suite as cs;
    [
        ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
}

/// The suites of one TLS version a cipher list names, in its order. The
/// list is OpenSSL's syntax cut down to what it can mean here: names
/// (OpenSSL's or IANA's) separated by `:`, `,` or spaces; `DEFAULT`, `ALL` and
/// `HIGH` for every suite; `!name` or `-name` to take one out; anything else
/// (a name hotcache does not have, `@STRENGTH`, `+name`) is skipped. Empty:
/// every suite. Err when a list names no suite hotcache has (OpenSSL's
/// "no cipher match").
fn pick(list: &str, tls13: bool) -> Result<Vec<SupportedCipherSuite>, ()> {
    let all: Vec<_> = suites()
        .into_iter()
        .filter(|(_, _, s)| matches!(s, SupportedCipherSuite::Tls13(_)) == tls13)
        .collect();
    if list.trim().is_empty() {
        return Ok(all.iter().map(|(_, _, s)| *s).collect());
    }
    let find = |name: &str| {
        all.iter()
            .filter(|(o, i, _)| o.eq_ignore_ascii_case(name) || i.eq_ignore_ascii_case(name))
            .map(|(_, _, s)| *s)
            .collect::<Vec<_>>()
    };
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    let mut removed: Vec<SupportedCipherSuite> = Vec::new();
    for word in list.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        if let Some(name) = word.strip_prefix('!').or_else(|| word.strip_prefix('-')) {
            removed.extend(find(name));
            continue;
        }
        let found = match word.to_ascii_uppercase().as_str() {
            "DEFAULT" | "ALL" | "HIGH" => all.iter().map(|(_, _, s)| *s).collect(),
            _ => find(word),
        };
        for s in found {
            if !out.iter().any(|o| o.suite() == s.suite()) {
                out.push(s);
            }
        }
    }
    out.retain(|s| !removed.iter().any(|r| r.suite() == s.suite()));
    if out.is_empty() { Err(()) } else { Ok(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[SupportedCipherSuite]) -> Vec<String> {
        v.iter().map(|s| format!("{:?}", s.suite())).collect()
    }

    #[test]
    fn cipher_lists() {
        assert_eq!(pick("", false).map(|v| v.len()), Ok(6));
        assert_eq!(pick("", true).map(|v| v.len()), Ok(3));
        let v = pick("ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false)
            .expect("known names");
        assert_eq!(
            names(&v),
            ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
        );
        let v = pick("HIGH:!aNULL:!ECDHE-RSA-CHACHA20-POLY1305:@STRENGTH", false).expect("high");
        assert_eq!(v.len(), 5);
        assert_eq!(pick("RC4-MD5:DES-CBC3-SHA", false), Err(()), "nothing hotcache has");
        assert_eq!(
            names(&pick("TLS_AES_128_GCM_SHA256", true).expect("one")),
            ["TLS13_AES_128_GCM_SHA256"]
        );
    }

    #[test]
    fn protocol_lists() {
        assert_eq!(protocols(""), Ok((true, true)));
        assert_eq!(protocols("TLSv1.2"), Ok((true, false)));
        assert_eq!(protocols("tlsv1.1 TLSv1.3"), Ok((false, true)));
        assert!(protocols("TLSv1 TLSv1.1").is_err());
        assert!(protocols("SSLv3").is_err());
    }

    #[test]
    fn what_is_missing_is_named() {
        let c = Config { tls_port: 1, ..Config::default() };
        assert_eq!(server_config(&c).err().as_deref(), Some("No tls-cert-file configured!"));
        let c = Config { tls_cert_file: "c".into(), tls_key_file: "k".into(), ..c };
        assert!(server_config(&c).err().is_some_and(|e| e.contains("tls-ca-cert-file")));
        let c = Config { tls_auth_clients: TlsAuthClients::No, ..c };
        assert!(
            server_config(&c).err().is_some_and(|e| e.starts_with("Failed to load certificate: c"))
        );
    }
}

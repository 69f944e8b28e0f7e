//! What is never shown back: passwords inside URLs and the values of secret
//! settings, masked wherever a setting's value is shown (ARCHITECTURE.md rule 11).

/// Settings whose whole value is a secret: shown back as `***` when set.
const SECRET_SETTINGS: &[&str] = &[
    "requirepass",
    "metrics-auth",
    "tls-key-file-pass",
    "upstream-tls-key-file-pass",
    "sentinel-password",
];

/// A setting's value as hotcache shows it back (CONFIG GET; never in logs or
/// errors otherwise): passwords inside URLs (`redis://hc:***@host:6379`) and
/// the values of secret settings replaced by `***` (ARCHITECTURE.md rule 11).
pub fn shown(name: &str, value: &str) -> String {
    if SECRET_SETTINGS.contains(&name) && !value.is_empty() {
        return "***".to_string();
    }
    mask_urls(value)
}

/// `scheme://user:password@host` with the password replaced by `***`, for
/// every URL in `s` (a cluster's seed list is one URL, a list is several).
pub fn mask_urls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The credentials end at the last '@' before the next URL (a
        // password may hold '/', ',' or a space, as the URL parser allows).
        let next = after.find("://").unwrap_or(after.len());
        match after[..next].rsplit_once('@') {
            Some((creds, _)) => {
                match creds.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***@")),
                    // No user: the whole part before '@' is the password.
                    None => out.push_str("***@"),
                }
                rest = &after[creds.len() + 1..];
            }
            None => {
                out.push_str(&after[..next]);
                rest = &after[next..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What an error shows of a value that should have been a URL: as
/// `mask_urls`, and without a scheme, whatever comes before an '@' (it may be
/// a password) replaced by `***`.
pub fn mask_url_like(s: &str) -> String {
    if s.contains("://") {
        return mask_urls(s);
    }
    match s.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_when_shown() {
        assert_eq!(mask_urls("redis://hc:pw@h:1/0"), "redis://hc:***@h:1/0");
        assert_eq!(mask_urls("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(mask_urls("redis://pw@h:1"), "redis://***@h:1");
        assert_eq!(mask_urls("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(mask_urls("rediss://u:p@a:1,b:2"), "rediss://u:***@a:1,b:2");
        assert_eq!(
            mask_urls("redis://u:p:q@a:1 redis://v:s@b:2"),
            "redis://u:***@a:1 redis://v:***@b:2"
        );
        assert_eq!(mask_urls("no url here"), "no url here");
        // A password holding what ends a host, and a URL without its scheme.
        assert_eq!(mask_urls("redis://u:pa/ss@"), "redis://u:***@");
        assert_eq!(mask_urls("redis://:a b,c@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(mask_urls("u:pw@h:1"), "u:pw@h:1");
        assert_eq!(mask_url_like("u:pw@h:1"), "***@h:1");
        assert_eq!(mask_url_like("redis://u:pw@h:1"), "redis://u:***@h:1");
        assert_eq!(shown("requirepass", "s3cret"), "***");
        assert_eq!(shown("requirepass", ""), "");
        assert_eq!(shown("upstream", "redis://u:p@h:1/0"), "redis://u:***@h:1/0");
    }
}

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
        // The authority ends at the first '/', ',' or space; its credentials
        // at its last '@'.
        let end = after.find(['/', ',', ' ']).unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rsplit_once('@') {
            Some((creds, host)) => {
                match creds.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***@{host}")),
                    // No user: the whole part before '@' is the password.
                    None => out.push_str(&format!("***@{host}")),
                }
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
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
        assert_eq!(shown("requirepass", "s3cret"), "***");
        assert_eq!(shown("requirepass", ""), "");
        assert_eq!(shown("upstream", "redis://u:p@h:1/0"), "redis://u:***@h:1/0");
    }
}

//! Value types of the TLS settings (Redis's names and syntax).

use super::Value;
use super::values::one_of;

/// Whether TLS clients must show a certificate (Redis's `tls-auth-clients`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsAuthClients {
    /// A client without a certificate the CA signed is refused (Redis's default).
    #[default]
    Yes,
    /// No certificate is asked for.
    No,
    /// A certificate is asked for and, if given, must verify; none is fine.
    Optional,
}

impl Value for TlsAuthClients {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "yes" => Ok(Self::Yes),
            "no" => Ok(Self::No),
            "optional" => Ok(Self::Optional),
            // Redis's enum configs list their names in this order.
            _ => Err(one_of(&["no", "yes", "optional"])),
        }
    }
    fn show(&self) -> String {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Optional => "optional",
        }
        .to_string()
    }
}

/// Whether the sentinels themselves are reached over TLS (`sentinel-tls`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SentinelTls {
    /// As the master: TLS when `sentinel` is a `rediss://` URL (the usual
    /// deployment: the sentinels' `tls-port` and `tls-replication yes`).
    #[default]
    Auto,
    /// TLS to the sentinels, whatever the master's scheme.
    Yes,
    /// Plain TCP to the sentinels, whatever the master's scheme.
    No,
}

impl Value for SentinelTls {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "yes" => Ok(Self::Yes),
            "no" => Ok(Self::No),
            _ => Err(one_of(&["auto", "yes", "no"])),
        }
    }
    fn show(&self) -> String {
        match self {
            Self::Auto => "auto",
            Self::Yes => "yes",
            Self::No => "no",
        }
        .to_string()
    }
}

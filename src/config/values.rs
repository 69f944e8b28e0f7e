//! Value types of settings and their text forms (Redis's syntax where Redis has one).

/// How a setting's value is read from and shown as text.
pub trait Value: Sized {
    fn parse(s: &str) -> Result<Self, String>;
    fn show(&self) -> String;
}

impl Value for String {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
    fn show(&self) -> String {
        self.clone()
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn parse(s: &str) -> Result<Self, String> {
                s.trim().parse::<$t>().map_err(|_| {
                    format!("'{s}' is not a whole number in 0..={}", <$t>::MAX)
                })
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
int_value!(u16, u32, u64, usize);

impl Value for i64 {
    fn parse(s: &str) -> Result<Self, String> {
        s.trim().parse::<i64>().map_err(|_| format!("'{s}' is not a whole number"))
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

/// Percentiles (0 to 100), written as Redis writes them: space separated, no
/// trailing zeros (`50 99 99.9`).
#[derive(Clone, Debug, PartialEq)]
pub struct Percentiles(pub Vec<f64>);

impl Default for Percentiles {
    fn default() -> Self {
        Percentiles(vec![50.0, 99.0, 99.9])
    }
}

impl Value for Percentiles {
    fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for word in s.split_whitespace() {
            match word.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => out.push(p),
                _ => return Err(format!("'{word}' is not a percentile between 0 and 100")),
            }
        }
        if out.len() > 16 {
            return Err("at most 16 percentiles".to_string());
        }
        Ok(Percentiles(out))
    }
    fn show(&self) -> String {
        self.0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
    }
}

impl Value for bool {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(true),
            "no" | "false" => Ok(false),
            _ => Err(format!("'{s}' is not yes or no")),
        }
    }
    fn show(&self) -> String {
        if *self { "yes" } else { "no" }.to_string()
    }
}

/// A size in bytes, written as Redis writes memory: `1024`, `64kb`, `512mb`, `1gb`
/// (`k`, `m`, `g` alone mean powers of 1000, as in Redis).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl Value for ByteSize {
    fn parse(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
        let (num, unit) = lower.split_at(split);
        let n: u64 = num.parse().map_err(|_| format!("'{s}' is not a memory size"))?;
        let mul: u64 = match unit {
            "" | "b" => 1,
            "k" => 1000,
            "kb" => 1024,
            "m" => 1000 * 1000,
            "mb" => 1024 * 1024,
            "g" => 1000 * 1000 * 1000,
            "gb" => 1024 * 1024 * 1024,
            _ => return Err(format!("'{s}' has an unknown unit (use b, kb, mb, gb)")),
        };
        n.checked_mul(mul).map(ByteSize).ok_or_else(|| format!("'{s}' is too large"))
    }
    fn show(&self) -> String {
        let n = self.0;
        if n != 0 && n.is_multiple_of(1 << 30) {
            format!("{}gb", n >> 30)
        } else if n != 0 && n.is_multiple_of(1 << 20) {
            format!("{}mb", n >> 20)
        } else if n != 0 && n.is_multiple_of(1 << 10) {
            format!("{}kb", n >> 10)
        } else {
            n.to_string()
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Value for LogFormat {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("'{s}' is not text or json")),
        }
    }
    fn show(&self) -> String {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
        .to_string()
    }
}

/// What the local cache admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Only keys currently hot.
    Hot,
    /// Every cacheable reply; eviction decides what stays.
    All,
    /// Nothing: a pure proxy.
    Off,
}

impl Value for CacheMode {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hot" => Ok(CacheMode::Hot),
            "all" => Ok(CacheMode::All),
            "off" => Ok(CacheMode::Off),
            _ => Err(format!("'{s}' is not hot, all or off")),
        }
    }
    fn show(&self) -> String {
        match self {
            CacheMode::Hot => "hot",
            CacheMode::All => "all",
            CacheMode::Off => "off",
        }
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("512mb"), Ok(ByteSize(512 << 20)));
        assert_eq!(ByteSize::parse("1k"), Ok(ByteSize(1000)));
        assert_eq!(ByteSize::parse("7"), Ok(ByteSize(7)));
        assert!(ByteSize::parse("1tb").is_err());
        assert!(ByteSize::parse("-1").is_err());
    }

    #[test]
    fn percentiles() {
        assert_eq!(Percentiles::parse("50 99 99.9"), Ok(Percentiles::default()));
        assert_eq!(Percentiles::default().show(), "50 99 99.9");
        assert_eq!(Percentiles::parse(""), Ok(Percentiles(vec![])));
        assert!(Percentiles::parse("101").is_err());
        assert!(Percentiles::parse("x").is_err());
    }
}

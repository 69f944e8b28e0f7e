//! Value types of settings and their text forms (Redis's syntax where Redis has one).

/// How a setting's value is read from and shown as text.
pub trait Value: Sized {
    fn parse(s: &str) -> Result<Self, String>;
    fn show(&self) -> String;
    /// Parses `s` as a change of `self`: the whole value for most settings;
    /// settings made of parts Redis lets one change alone (the classes of
    /// `client-output-buffer-limit`) keep the parts `s` does not name.
    fn parse_onto(&self, s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
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

/// One client class's output buffer limits (Redis's `client-output-buffer-limit`
/// triple): a client owed more than `hard` bytes is closed at once, one owed more
/// than `soft` bytes for longer than `soft_secs` seconds too; 0 turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

/// `client-output-buffer-limit`, in Redis's syntax: `<class> <hard> <soft>
/// <soft seconds>` for one or more of the classes `normal`, `replica` (or
/// `slave`) and `pubsub`. A class not named keeps its value; a single size
/// alone (hotcache's older form) is the normal class's hard limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    /// Accepted for Redis's syntax; hotcache serves no replicas.
    pub replica: ClassLimit,
    /// Clients in subscribe mode (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE).
    pub pubsub: ClassLimit,
}

impl Default for OutputLimits {
    /// Redis's defaults for replicas and subscribers; for normal clients 256mb
    /// where Redis has none (hotcache keeps every buffer bounded).
    fn default() -> Self {
        OutputLimits {
            normal: ClassLimit { hard: 256 << 20, soft: 0, soft_secs: 0 },
            replica: ClassLimit { hard: 256 << 20, soft: 64 << 20, soft_secs: 60 },
            pubsub: ClassLimit { hard: 32 << 20, soft: 8 << 20, soft_secs: 60 },
        }
    }
}

impl Value for OutputLimits {
    fn parse(s: &str) -> Result<Self, String> {
        OutputLimits::default().parse_onto(s)
    }

    /// As Redis's `updateClientOutputBufferLimit`: the whole text is checked
    /// before any class changes, with Redis's messages.
    fn parse_onto(&self, s: &str) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let mut out = *self;
        if let [size] = words[..] {
            out.normal.hard = ByteSize::parse(size)?.0;
            return Ok(out);
        }
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for w in words.chunks(4) {
            let class = match w[0].to_ascii_lowercase().as_str() {
                "normal" => &mut out.normal,
                "replica" | "slave" => &mut out.replica,
                "pubsub" => &mut out.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into()
                    );
                }
            };
            let bad = || {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            };
            *class = ClassLimit {
                hard: ByteSize::parse(w[1]).map_err(|_| bad())?.0,
                soft: ByteSize::parse(w[2]).map_err(|_| bad())?.0,
                soft_secs: w[3].parse().map_err(|_| bad())?,
            };
        }
        Ok(out)
    }

    /// Redis's CONFIG GET form: every class, sizes in bytes.
    fn show(&self) -> String {
        let one =
            |name: &str, c: &ClassLimit| format!("{name} {} {} {}", c.hard, c.soft, c.soft_secs);
        format!(
            "{} {} {}",
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub)
        )
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
    fn output_limits_as_redis_reads_them() {
        let d = OutputLimits::default();
        assert_eq!(OutputLimits::parse(&d.show()), Ok(d));
        // A bare size: the normal class's hard limit, the rest kept.
        let one = OutputLimits::parse("64mb").expect("size");
        assert_eq!(one.normal, ClassLimit { hard: 64 << 20, soft: 0, soft_secs: 0 });
        assert_eq!(one.pubsub, d.pubsub);
        // One class changes alone; the others keep their value.
        let p = one.parse_onto("pubsub 1mb 512kb 5").expect("class");
        assert_eq!(p.pubsub, ClassLimit { hard: 1 << 20, soft: 512 << 10, soft_secs: 5 });
        assert_eq!(p.normal, one.normal);
        let r = d.parse_onto("replica 1 2 3 NORMAL 0 0 0").expect("two classes");
        assert_eq!(r.replica, ClassLimit { hard: 1, soft: 2, soft_secs: 3 });
        assert_eq!(r.normal, ClassLimit::default());
        // Redis's errors; nothing changes on any.
        assert_eq!(
            d.parse_onto("normal 1mb 0"),
            Err("Wrong number of arguments in buffer limit configuration.".into())
        );
        assert_eq!(
            d.parse_onto("master 1 1 1"),
            Err("Invalid client class specified in buffer limit configuration.".into())
        );
        assert_eq!(
            d.parse_onto("normal 1mb 0 -1"),
            Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into())
        );
        assert!(d.parse_onto("normal 1xb 0 0").is_err());
        assert!(d.parse_onto("").is_err());
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

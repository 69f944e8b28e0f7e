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
    /// The number a text form stands for, before it is fitted to the type, for
    /// numeric settings (so that a range check sees `-1` or `2^70` as given and
    /// answers with the setting's range, as Redis does, not the type's).
    fn raw_number(_s: &str) -> Option<i128> {
        None
    }
    /// The value as a number, for numeric settings (to re-check a range).
    fn number(&self) -> Option<i128> {
        None
    }
}

/// The values a numeric setting accepts, both ends included (Redis's bounds
/// where Redis has the setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub lo: i128,
    pub hi: i128,
}

impl Range {
    /// Checks `n`, with Redis's message (config.c `numericBoundaryCheck`).
    pub fn check(&self, n: i128) -> Result<(), String> {
        if n < self.lo || n > self.hi {
            return Err(format!("argument must be between {} and {} inclusive", self.lo, self.hi));
        }
        Ok(())
    }
}

/// Parses `s` as a change of `base` within `range`: the range is checked on
/// the number as written, so that it, not the type's limits, names what is
/// allowed.
pub fn parse_in<T: Value>(base: &T, s: &str, range: Option<Range>) -> Result<T, String> {
    if let (Some(r), Some(n)) = (range, T::raw_number(s)) {
        r.check(n)?;
    }
    base.parse_onto(s)
}

/// Checks a value already parsed against `range` (a configuration built in
/// code rather than read from text).
pub fn check_in<T: Value>(v: &T, range: Option<Range>) -> Result<(), String> {
    match (range, v.number()) {
        (Some(r), Some(n)) => r.check(n),
        _ => Ok(()),
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

/// Redis's message for a number that is not one.
const NOT_AN_INTEGER: &str = "argument couldn't be parsed into an integer";

/// A whole number as written (sign, digits); None for anything else.
fn whole_number(s: &str) -> Option<i128> {
    s.trim().parse::<i128>().ok()
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn parse(s: &str) -> Result<Self, String> {
                let n = whole_number(s).ok_or_else(|| NOT_AN_INTEGER.to_string())?;
                <$t>::try_from(n).map_err(|_| {
                    Range { lo: <$t>::MIN as i128, hi: <$t>::MAX as i128 }
                        .check(n)
                        .err()
                        .unwrap_or_default()
                })
            }
            fn show(&self) -> String {
                self.to_string()
            }
            fn raw_number(s: &str) -> Option<i128> {
                whole_number(s)
            }
            fn number(&self) -> Option<i128> {
                Some(*self as i128)
            }
        }
    )*};
}
int_value!(u16, u32, u64, usize, i64);

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
                // Redis's messages (config.c, latency-tracking-info-percentiles).
                Ok(_) => {
                    return Err("latency-tracking-info-percentiles parameters should sit between \
                                [0.0,100.0]"
                        .to_string());
                }
                Err(_) => {
                    return Err("Invalid latency-tracking-info-percentiles parameters".to_string());
                }
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
            _ => Err("argument must be 'yes' or 'no'".to_string()),
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

impl ByteSize {
    /// The bytes a text form stands for (wider than the type, for range checks).
    fn bytes(s: &str) -> Result<u128, String> {
        let lower = s.trim().to_ascii_lowercase();
        let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
        let (num, unit) = lower.split_at(split);
        let n: u128 = num.parse().map_err(|_| NOT_MEMORY.to_string())?;
        let mul: u128 = match unit {
            "" | "b" => 1,
            "k" => 1000,
            "kb" => 1024,
            "m" => 1000 * 1000,
            "mb" => 1024 * 1024,
            "g" => 1000 * 1000 * 1000,
            "gb" => 1024 * 1024 * 1024,
            _ => return Err(NOT_MEMORY.to_string()),
        };
        n.checked_mul(mul).ok_or_else(|| NOT_MEMORY.to_string())
    }
}

/// Redis's message for a size that is not one.
const NOT_MEMORY: &str = "argument must be a memory value";

impl Value for ByteSize {
    fn parse(s: &str) -> Result<Self, String> {
        let n = Self::bytes(s)?;
        u64::try_from(n).map(ByteSize).map_err(|_| NOT_MEMORY.to_string())
    }
    fn raw_number(s: &str) -> Option<i128> {
        Self::bytes(s).ok().and_then(|n| i128::try_from(n).ok())
    }
    fn number(&self) -> Option<i128> {
        Some(i128::from(self.0))
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

/// Redis's message for a value that is none of an enum's names.
pub fn one_of(names: &[&str]) -> String {
    format!("argument(s) must be one of the following: {}", names.join(", "))
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
            _ => Err(one_of(&["text", "json"])),
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
    /// Every cacheable read is a candidate; a frequency sketch (TinyLFU) decides
    /// what enters once the memory is full. The default.
    Lfu,
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
            "lfu" => Ok(CacheMode::Lfu),
            "hot" => Ok(CacheMode::Hot),
            "all" => Ok(CacheMode::All),
            "off" => Ok(CacheMode::Off),
            _ => Err(one_of(&["lfu", "hot", "all", "off"])),
        }
    }
    fn show(&self) -> String {
        match self {
            CacheMode::Lfu => "lfu",
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

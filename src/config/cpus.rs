//! `cpu-affinity`: which CPU each shard thread runs on.

use super::Value;

/// Most CPUs a list may name (Linux's `CPU_SETSIZE`).
pub const MAX_CPUS: usize = 1024;

/// Where shard threads run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuAffinity {
    /// Wherever the kernel schedules them.
    Off,
    /// One shard per CPU: when there are at least as many shards as CPUs this
    /// process may use, shard `i` on the `i`-th of them (wrapping around);
    /// fewer shards than CPUs are left to the kernel (pinning them all to the
    /// first CPUs would stack several instances on the same cores).
    Auto,
    /// Shard `i` on the `i`-th CPU of the list (wrapping around), written as
    /// Redis's `server-cpulist`: `0-3,8`, with an optional step, `0-7:2`.
    List(Vec<usize>),
}

impl CpuAffinity {
    /// The CPU for shard `shard` of `shards`, given the CPUs the process may use.
    pub fn cpu_for(&self, shard: usize, shards: usize, allowed: &[usize]) -> Option<usize> {
        let cpus = match self {
            CpuAffinity::Off => return None,
            CpuAffinity::Auto if shards < allowed.len() => return None,
            CpuAffinity::Auto => allowed,
            CpuAffinity::List(list) => list,
        };
        if cpus.is_empty() { None } else { Some(cpus[shard % cpus.len()]) }
    }
}

impl Value for CpuAffinity {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "off" | "no" | "" => return Ok(CpuAffinity::Off),
            "auto" | "yes" => return Ok(CpuAffinity::Auto),
            _ => {}
        }
        let bad = || format!("'{s}' is not off, auto, or a CPU list like 0-3,8 or 0-7:2");
        let mut cpus = Vec::new();
        for part in s.split(',') {
            let (range, step) = match part.split_once(':') {
                Some((r, st)) => (r, st.trim().parse::<usize>().map_err(|_| bad())?),
                None => (part, 1),
            };
            let (lo, hi) = match range.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (range.trim(), range.trim()),
            };
            let lo: usize = lo.parse().map_err(|_| bad())?;
            let hi: usize = hi.parse().map_err(|_| bad())?;
            if step == 0 || lo > hi || hi >= MAX_CPUS {
                return Err(bad());
            }
            cpus.extend((lo..=hi).step_by(step));
            if cpus.len() > MAX_CPUS {
                return Err(bad());
            }
        }
        Ok(CpuAffinity::List(cpus))
    }

    fn show(&self) -> String {
        match self {
            CpuAffinity::Off => "off".to_string(),
            CpuAffinity::Auto => "auto".to_string(),
            CpuAffinity::List(cpus) => {
                cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_cpulist_syntax() {
        let p = |s| CpuAffinity::parse(s);
        assert_eq!(p("off"), Ok(CpuAffinity::Off));
        assert_eq!(p("auto"), Ok(CpuAffinity::Auto));
        assert_eq!(p("0-3,8"), Ok(CpuAffinity::List(vec![0, 1, 2, 3, 8])));
        assert_eq!(p("0-7:2"), Ok(CpuAffinity::List(vec![0, 2, 4, 6])));
        assert_eq!(p(" 5 "), Ok(CpuAffinity::List(vec![5])));
        for bad in ["3-1", "x", "1,,2", "0-7:0", "1024", "-1", "0-"] {
            assert!(p(bad).is_err(), "{bad} accepted");
        }
        let list = p("0-3,8").unwrap();
        assert_eq!(p(&list.show()), Ok(list));
    }

    #[test]
    fn shards_wrap_around_the_cpus() {
        let allowed = [4, 5];
        assert_eq!(CpuAffinity::Off.cpu_for(0, 2, &allowed), None);
        assert_eq!(CpuAffinity::Auto.cpu_for(0, 2, &allowed), Some(4));
        assert_eq!(CpuAffinity::Auto.cpu_for(3, 4, &allowed), Some(5));
        assert_eq!(CpuAffinity::Auto.cpu_for(0, 1, &allowed), None, "fewer shards than CPUs");
        assert_eq!(CpuAffinity::Auto.cpu_for(0, 1, &[]), None);
        assert_eq!(CpuAffinity::List(vec![7]).cpu_for(2, 3, &allowed), Some(7));
    }
}

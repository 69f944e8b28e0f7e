//! Reports with charts: one run over time (`--report`, `--svg`) and several runs
//! side by side (`hotcache-bench compare`).
//!
//! Both read the JSON object `--json` prints, so a report made at the end of a run
//! and one made later from saved JSON files are the same. Charts are hand-written
//! SVG (`svg.rs`); the HTML report embeds them inline and needs nothing else: no
//! scripts, no styles or fonts from elsewhere.

mod axis;
mod compare;
pub mod svg;

pub use compare::Comparison;

use std::fmt::Write as _;

use serde_json::Value;

use crate::sampler;
use svg::{LineChart, Series, escape};

/// One second of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Second {
    /// The middle of the second's span, in seconds since measuring began.
    pub t: f64,
    pub ops_per_sec: f64,
    pub errors: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// What a report shows of one run, read from its JSON.
#[derive(Clone, Debug)]
pub struct Run {
    /// The target's name (`--label`, else its address).
    pub label: String,
    /// The workload in a few words, e.g. "GET P16 zipf 0.99": runs of one case compare.
    pub case: String,
    /// The run's settings in one line.
    pub settings: String,
    pub ops_per_sec: f64,
    pub errors: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub seconds: Vec<Second>,
    /// Server cache hit ratio (0..=1) per interval, when the target is hotcache.
    pub hit_ratio: Option<Vec<(f64, f64)>>,
    /// Server cache hit ratio over the whole measured run.
    pub hit_ratio_total: Option<f64>,
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64().filter(|x| x.is_finite())
}

fn u(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

impl Run {
    /// Reads a run from the object `hotcache-bench --json` prints.
    pub fn from_json(v: &Value) -> Result<Run, String> {
        let c = v.get("config").ok_or("no \"config\" in the JSON")?;
        let r = v.get("results").ok_or("no \"results\" in the JSON")?;
        let addr = c.get("addr").and_then(Value::as_str).unwrap_or("?");
        let label = c.get("label").and_then(Value::as_str).unwrap_or(addr).to_string();
        let (get, set) =
            (u(c, &["ratio", "get"]).unwrap_or(1), u(c, &["ratio", "set"]).unwrap_or(0));
        let read = match u(c, &["mget"]) {
            Some(n) => format!("MGET{n}"),
            None => "GET".into(),
        };
        let op = match (get, set) {
            (_, 0) => read,
            (0, _) => "SET".into(),
            (g, s) => format!("{read}:SET {g}:{s}"),
        };
        let pipeline = u(c, &["pipeline"]).unwrap_or(1);
        let dist = match f(c, &["zipf_s"]) {
            Some(s) if c.get("dist").and_then(Value::as_str) == Some("zipf") => {
                format!(" zipf {s}")
            }
            _ => String::new(),
        };
        let case = format!("{op} P{pipeline}{dist}");
        let settings = format!(
            "{addr}: {} connections x pipeline {pipeline}, {op}, {} keys{}, {} B values, {} s",
            u(c, &["connections"]).unwrap_or(0),
            u(c, &["keys"]).unwrap_or(0),
            if dist.is_empty() { " uniform".to_string() } else { dist.clone() },
            u(c, &["value_size"]).unwrap_or(0),
            f(r, &["elapsed_s"]).map_or("?".into(), |s| format!("{s:.1}")),
        );
        let seconds = v
            .get("series")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .map(|s| {
                        let second = f(s, &["second"]).unwrap_or(0.0);
                        let span = f(s, &["span_s"]).unwrap_or(1.0);
                        Second {
                            t: second + span / 2.0,
                            ops_per_sec: f(s, &["ops_per_sec"])
                                .or_else(|| f(s, &["ops"]))
                                .unwrap_or(0.0),
                            errors: u(s, &["errors"]).unwrap_or(0),
                            p50_us: f(s, &["p50_us"]).unwrap_or(f64::NAN),
                            p99_us: f(s, &["p99_us"]).unwrap_or(f64::NAN),
                            p999_us: f(s, &["p999_us"]).unwrap_or(f64::NAN),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let samples: Option<Vec<sampler::Sample>> =
            v.get("server").and_then(|s| s.get("samples")).and_then(Value::as_array).map(|rows| {
                rows.iter()
                    .filter_map(|s| {
                        Some(sampler::Sample {
                            t: f(s, &["t_s"])?,
                            hits: u(s, &["cache_hits"])?,
                            misses: u(s, &["cache_misses"])?,
                        })
                    })
                    .collect()
            });
        let hit_ratio_total = samples.as_ref().and_then(|s| {
            let (first, last) = (s.first()?, s.last()?);
            let hits = last.hits.saturating_sub(first.hits);
            let lookups = hits + last.misses.saturating_sub(first.misses);
            (lookups > 0).then(|| hits as f64 / lookups as f64)
        });
        let lat = |k: &str| f(r, &["latency_us", k]).unwrap_or(0.0);
        Ok(Run {
            label,
            case,
            settings,
            ops_per_sec: f(r, &["ops_per_sec"]).unwrap_or(0.0),
            errors: u(r, &["errors"]).unwrap_or(0),
            p50_us: lat("p50"),
            p99_us: lat("p99"),
            p999_us: lat("p99_9"),
            max_us: lat("max"),
            seconds,
            hit_ratio: samples.as_deref().map(sampler::ratios),
            hit_ratio_total,
        })
    }

    /// How long the series runs, in seconds.
    fn length(&self) -> f64 {
        self.seconds.last().map_or(0.0, |s| s.t + (s.t - s.t.floor()))
    }

    /// Throughput over time.
    fn throughput_chart(&self) -> LineChart {
        LineChart {
            title: format!("{}: throughput ({})", self.label, self.case),
            x_label: "seconds since measuring began".into(),
            y_label: "ops/s".into(),
            series: vec![Series {
                name: "ops/s".into(),
                points: self.seconds.iter().map(|s| (s.t, s.ops_per_sec)).collect(),
            }],
            x_at_least: Some(self.length()),
            y_at_least: None,
        }
    }

    /// p50, p99 and p99.9 over time, in milliseconds.
    fn latency_chart(&self) -> LineChart {
        let line = |name: &str, pick: fn(&Second) -> f64| Series {
            name: name.into(),
            points: self.seconds.iter().map(|s| (s.t, pick(s) / 1000.0)).collect(),
        };
        LineChart {
            title: format!("{}: latency per second ({})", self.label, self.case),
            x_label: "seconds since measuring began".into(),
            y_label: "latency, ms".into(),
            series: vec![
                line("p50", |s| s.p50_us),
                line("p99", |s| s.p99_us),
                line("p99.9", |s| s.p999_us),
            ],
            x_at_least: Some(self.length()),
            y_at_least: None,
        }
    }

    /// Server cache hit ratio over time, in percent (hotcache only).
    fn hit_ratio_chart(&self) -> Option<LineChart> {
        let points = self.hit_ratio.as_ref()?;
        Some(LineChart {
            title: format!("{}: cache hit ratio (INFO hotcache, per interval)", self.label),
            x_label: "seconds since measuring began".into(),
            y_label: "hit ratio, %".into(),
            series: vec![Series {
                name: "cache_hits / (cache_hits + cache_misses)".into(),
                points: points.iter().map(|&(t, r)| (t, r * 100.0)).collect(),
            }],
            x_at_least: Some(self.length()),
            y_at_least: Some(100.0),
        })
    }

    /// The run's charts, each an `<svg>` element.
    pub fn charts(&self) -> Vec<String> {
        let mut out = vec![self.throughput_chart().render(), self.latency_chart().render()];
        out.extend(self.hit_ratio_chart().map(|c| c.render()));
        out
    }

    /// The run's charts stacked in one SVG file.
    pub fn svg(&self) -> String {
        svg::stack(&self.charts())
    }

    /// A self-contained HTML page: settings, summary and the charts.
    pub fn html(&self) -> String {
        let mut body = format!("<p>{}</p>\n", escape(&self.settings));
        body.push_str(&summary_table(std::slice::from_ref(self)));
        if self.hit_ratio.is_none() {
            body.push_str(
                "<p>No cache hit ratio: the server has no <code>INFO hotcache</code> \
                 counters (not hotcache).</p>\n",
            );
        }
        for chart in self.charts() {
            body.push_str(&chart);
        }
        page(&format!("hotcache-bench: {}", self.label), &body)
    }
}

/// A table of the runs' figures, one row each.
pub(crate) fn summary_table(runs: &[Run]) -> String {
    let mut out = String::from(
        "<table>\n<tr><th>target</th><th>case</th><th>ops/s</th><th>p50 ms</th>\
         <th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th><th>cache hit ratio</th></tr>\n",
    );
    for r in runs {
        let hit = r.hit_ratio_total.map_or("n/a".into(), |h| format!("{:.2}%", h * 100.0));
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td>\
             <td>{:.3}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.label),
            escape(&r.case),
            thousands(r.ops_per_sec),
            r.p50_us / 1000.0,
            r.p99_us / 1000.0,
            r.p999_us / 1000.0,
            r.max_us / 1000.0,
            r.errors,
            hit
        );
    }
    out.push_str("</table>\n");
    out
}

/// A rate with thousands separators: 1234567.8 -> "1,234,568".
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An HTML page around `body`, with its styles inline.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{t}</title>\n<style>\n\
         body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; \
         white-space: nowrap; }}\n\
         td:first-child, td:nth-child(2), th {{ text-align: left; }}\n\
         svg {{ display: block; margin: 1em 0; }}\n\
         </style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = escape(title)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn run_json(label: &str, pipeline: u64, ops_per_sec: f64, samples: bool) -> Value {
        let series: Vec<Value> = (0..3)
            .map(|i| {
                serde_json::json!({"second": i, "span_s": 1.0, "ops": 100, "errors": 0,
                    "ops_per_sec": ops_per_sec, "p50_us": 100.0, "p99_us": 900.0, "p999_us": 2000.0})
            })
            .collect();
        let server = samples.then(|| {
            serde_json::json!({"kind": "hotcache", "samples": [
                {"t_s": 0.0, "cache_hits": 0, "cache_misses": 0},
                {"t_s": 1.0, "cache_hits": 50, "cache_misses": 50},
                {"t_s": 2.0, "cache_hits": 140, "cache_misses": 60},
            ]})
        });
        serde_json::json!({
            "config": {"addr": "127.0.0.1:1", "label": label, "connections": 50,
                "pipeline": pipeline, "ratio": {"get": 1, "set": 0}, "mget": null,
                "keys": 100, "dist": "zipf", "zipf_s": 0.99, "value_size": 64},
            "results": {"ops": 300, "elapsed_s": 3.0, "ops_per_sec": ops_per_sec, "errors": 0,
                "latency_us": {"p50": 100.0, "p99": 900.0, "p99_9": 2000.0, "max": 3000.0}},
            "series": series,
            "server": server,
        })
    }

    #[test]
    fn a_run_from_json() {
        let r = Run::from_json(&run_json("hotcache", 16, 1000.0, true)).unwrap();
        assert_eq!(r.case, "GET P16 zipf 0.99");
        assert_eq!(r.seconds.len(), 3);
        assert_eq!(r.seconds[1].t, 1.5);
        assert_eq!(r.hit_ratio, Some(vec![(0.5, 0.5), (1.5, 0.9)]));
        assert_eq!(r.hit_ratio_total, Some(0.7));
        let charts = r.charts();
        assert_eq!(charts.len(), 3, "throughput, latency, hit ratio");
        let html = r.html();
        assert!(html.contains("<td>hotcache</td>") && html.contains("70.00%"), "{html}");
        assert_eq!(
            (thousands(1_234_567.8), thousands(999.0), thousands(0.0)),
            ("1,234,568".into(), "999".into(), "0".into())
        );
        assert!(!html.contains("NaN") && !html.contains("src=") && !html.contains("<script"));

        // Plain Redis: no hit ratio chart, and the page says why.
        let r = Run::from_json(&run_json("redis", 16, 1000.0, false)).unwrap();
        assert_eq!(r.charts().len(), 2);
        assert!(r.html().contains("No cache hit ratio"));
        assert!(Run::from_json(&serde_json::json!({})).is_err());
    }
}

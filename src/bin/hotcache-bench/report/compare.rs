//! Several runs side by side: bars by workload and target, lines over time.

use std::fmt::Write as _;

use super::svg::{self, BarChart, LineChart, Series, escape};
use super::{Run, page, summary_table};

/// Runs side by side: cases in the order first seen, targets likewise.
pub struct Comparison {
    pub runs: Vec<Run>,
    pub cases: Vec<String>,
    pub labels: Vec<String>,
}

impl Comparison {
    pub fn new(runs: Vec<Run>) -> Comparison {
        let mut cases: Vec<String> = Vec::new();
        let mut labels: Vec<String> = Vec::new();
        for r in &runs {
            if !cases.contains(&r.case) {
                cases.push(r.case.clone());
            }
            if !labels.contains(&r.label) {
                labels.push(r.label.clone());
            }
        }
        Comparison { runs, cases, labels }
    }

    /// The value `pick` of the run of `label` on `case` (the last, if repeated).
    fn value(&self, label: &str, case: &str, pick: fn(&Run) -> f64) -> Option<f64> {
        self.runs.iter().rev().find(|r| r.label == label && r.case == case).map(pick)
    }

    fn bars(&self, title: &str, y_label: &str, pick: fn(&Run) -> f64) -> BarChart {
        BarChart {
            title: title.into(),
            y_label: y_label.into(),
            groups: self.cases.clone(),
            series: self
                .labels
                .iter()
                .map(|l| (l.clone(), self.cases.iter().map(|c| self.value(l, c, pick)).collect()))
                .collect(),
        }
    }

    /// Bar charts: throughput, p50 and p99 latency by case and target.
    pub fn bar_charts(&self) -> Vec<String> {
        vec![
            self.bars("Throughput", "ops/s", |r| r.ops_per_sec).render(),
            self.bars("Latency p50", "ms", |r| r.p50_us / 1000.0).render(),
            self.bars("Latency p99", "ms", |r| r.p99_us / 1000.0).render(),
        ]
    }

    /// Throughput over time of every target, one chart per case.
    pub fn timelines(&self) -> Vec<String> {
        self.cases
            .iter()
            .map(|case| {
                let series = self
                    .runs
                    .iter()
                    .filter(|r| &r.case == case)
                    .map(|r| Series {
                        name: r.label.clone(),
                        points: r.seconds.iter().map(|s| (s.t, s.ops_per_sec)).collect(),
                    })
                    .collect();
                LineChart {
                    title: format!("Throughput over time: {case}"),
                    x_label: "seconds since measuring began".into(),
                    y_label: "ops/s".into(),
                    series,
                    x_at_least: None,
                    y_at_least: None,
                }
                .render()
            })
            .collect()
    }

    /// The bar charts stacked in one SVG file.
    pub fn svg(&self) -> String {
        svg::stack(&self.bar_charts())
    }

    /// A self-contained HTML page: the table, the bars, then the timelines.
    pub fn html(&self, title: &str) -> String {
        let mut body = String::from("<h2>Runs</h2>\n<ul>\n");
        for r in &self.runs {
            let _ = writeln!(body, "<li>{}: {}</li>", escape(&r.label), escape(&r.settings));
        }
        body.push_str("</ul>\n");
        body.push_str(&summary_table(&self.runs));
        body.push_str("<h2>By case</h2>\n");
        for chart in self.bar_charts() {
            body.push_str(&chart);
        }
        body.push_str("<h2>Over time</h2>\n");
        for chart in self.timelines() {
            body.push_str(&chart);
        }
        page(title, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::run_json;

    #[test]
    fn comparison_groups_by_case_and_target() {
        let runs = [("redis", 1, 100.0), ("hotcache", 1, 90.0), ("redis", 16, 900.0)]
            .iter()
            .map(|&(l, p, o)| Run::from_json(&run_json(l, p, o, false)).unwrap())
            .collect();
        let c = Comparison::new(runs);
        assert_eq!(c.cases, ["GET P1 zipf 0.99", "GET P16 zipf 0.99"]);
        assert_eq!(c.labels, ["redis", "hotcache"]);
        let bars = c.bars("t", "y", |r| r.ops_per_sec);
        assert_eq!(bars.series[1].1, vec![Some(90.0), None]);
        let svg = c.svg();
        assert!(svg.starts_with("<?xml") && svg.matches("<svg ").count() == 4, "{svg}");
        assert_eq!(c.timelines().len(), 2);
        assert!(c.html("cmp").contains("Throughput over time: GET P16 zipf 0.99"));
    }
}

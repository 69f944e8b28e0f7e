//! Hand-written SVG charts: lines over time and grouped bars.
//!
//! Plain text out, no dependencies, no scripts, no fonts or images fetched: a chart
//! is one `<svg>` element that a browser shows inline in HTML or as a file, and that
//! GitHub renders in a README. Every number written is finite (non-finite input
//! points are dropped), and every text is escaped, so the output is well-formed XML.

use std::fmt::Write as _;

pub use super::axis::{Axis, short};

/// Series colours, in order (colour-blind-safe enough for three to five series).
pub const PALETTE: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/// One chart's size, in SVG user units (pixels).
pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 250.0;
/// Room around the plot area for the title, legend, tick labels and axis labels.
const LEFT: f64 = 72.0;
const RIGHT: f64 = 18.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 42.0;

/// A named sequence of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Lines over a shared x axis (seconds, in this tool).
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// The x axis reaches at least this far (the run's length), so charts of one
    /// run line up whatever their last point.
    pub x_at_least: Option<f64>,
    /// The y axis reaches at least this far (100 for a percentage), so that a flat
    /// line near the top is not drawn as the whole range.
    pub y_at_least: Option<f64>,
}

/// Bars in groups: one group per category, one bar per series in each.
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    /// Series name and one value per group (`None`: no bar).
    pub series: Vec<(String, Vec<Option<f64>>)>,
}

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A number for an attribute: one decimal, finite by construction of the callers.
fn n(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    format!("{v:.1}")
}

/// The chart's frame: `<svg>` opening, background, title, legend.
fn open(out: &mut String, title: &str, names: &[&str]) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n\
         <text class=\"title\" x=\"{cx}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" \
         font-weight=\"bold\">{t}</text>\n",
        w = WIDTH,
        h = HEIGHT,
        cx = n(WIDTH / 2.0),
        t = escape(title)
    );
    // Legend: one row under the title; about 6.5 px per character.
    let mut x = LEFT;
    for (i, name) in names.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"27\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"36\">{}</text>",
            n(x),
            n(x + 14.0),
            escape(name)
        );
        x += 28.0 + 6.5 * name.chars().count() as f64;
    }
}

/// Horizontal grid lines with y tick labels, the axis lines and the y axis label.
fn y_axis(out: &mut String, axis: &Axis, label: &str) {
    let (x0, x1, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
    for t in axis.ticks() {
        let y = axis.map(t, bottom, TOP);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            n(x0),
            n(x1),
            n(x0 - 6.0),
            n(axis.map(t, bottom, TOP) + 4.0),
            escape(&axis.label(t)),
            y = n(y)
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{x0}\" y1=\"{t}\" x2=\"{x0}\" y2=\"{b}\" stroke=\"#333333\"/>\
         <line x1=\"{x0}\" y1=\"{b}\" x2=\"{x1}\" y2=\"{b}\" stroke=\"#333333\"/>\
         <text x=\"14\" y=\"{cy}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {cy})\">{l}</text>",
        x0 = n(x0),
        x1 = n(x1),
        t = n(TOP),
        b = n(bottom),
        cy = n((TOP + bottom) / 2.0),
        l = escape(label)
    );
}

/// A message in the middle of an empty plot.
fn no_data(out: &mut String) {
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#888888\">no data</text>",
        n((LEFT + WIDTH - RIGHT) / 2.0),
        n((TOP + HEIGHT - BOTTOM) / 2.0)
    );
}

impl LineChart {
    /// The chart as one `<svg>` element.
    pub fn render(&self) -> String {
        // Only finite points are drawn, so nothing below can produce a NaN.
        let series: Vec<Series> = self
            .series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .collect(),
            })
            .collect();
        let all = || series.iter().flat_map(|s| s.points.iter());
        let x_max = all().map(|p| p.0).fold(self.x_at_least.unwrap_or(0.0), f64::max);
        let y_max = all().map(|p| p.1).fold(self.y_at_least.unwrap_or(0.0), f64::max);
        let y_min = all().map(|p| p.1).fold(0.0, f64::min);
        let x_axis = Axis::nice(0.0, x_max, 10);
        let y_axis_ = Axis::nice(y_min, y_max, 5);

        let mut out = String::new();
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        open(&mut out, &self.title, &names);
        y_axis(&mut out, &y_axis_, &self.y_label);
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
        for t in x_axis.ticks() {
            let _ = writeln!(
                out,
                "<line x1=\"{x}\" y1=\"{b}\" x2=\"{x}\" y2=\"{b4}\" stroke=\"#333333\"/>\
                 <text x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{l}</text>",
                x = n(x_axis.map(t, left, right)),
                b = n(bottom),
                b4 = n(bottom + 4.0),
                ty = n(bottom + 16.0),
                l = escape(&x_axis.label(t))
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            n((left + right) / 2.0),
            n(HEIGHT - 6.0),
            escape(&self.x_label)
        );
        if all().next().is_none() {
            no_data(&mut out);
        }
        for (i, s) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let _ = writeln!(
                out,
                "<g class=\"series\" data-name=\"{}\" data-points=\"{}\">",
                escape(&s.name),
                s.points.len()
            );
            let pts: Vec<String> = s
                .points
                .iter()
                .map(|&(x, y)| {
                    format!("{},{}", n(x_axis.map(x, left, right)), n(y_axis_.map(y, bottom, TOP)))
                })
                .collect();
            if pts.len() > 1 {
                let _ = writeln!(
                    out,
                    "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.75\" \
                     stroke-linejoin=\"round\" points=\"{}\"/>",
                    pts.join(" ")
                );
            }
            // Dots where there are few points (one point is no line at all).
            if pts.len() <= 40 {
                for p in &pts {
                    let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(
                        out,
                        "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"{colour}\"/>"
                    );
                }
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>\n");
        out
    }
}

impl BarChart {
    /// The chart as one `<svg>` element.
    pub fn render(&self) -> String {
        let finite = |v: &Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
        let y_max =
            self.series.iter().flat_map(|(_, vs)| vs.iter().filter_map(finite)).fold(0.0, f64::max);
        let axis = Axis::nice(0.0, y_max, 5);
        let mut out = String::new();
        let names: Vec<&str> = self.series.iter().map(|(n, _)| n.as_str()).collect();
        open(&mut out, &self.title, &names);
        y_axis(&mut out, &axis, &self.y_label);
        let (left, right, bottom) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
        let groups = self.groups.len().max(1);
        let group_w = (right - left) / groups as f64;
        let bars = self.series.len().max(1);
        let bar_w = (group_w * 0.8 / bars as f64).min(60.0);
        for (g, name) in self.groups.iter().enumerate() {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                n(left + group_w * (g as f64 + 0.5)),
                n(bottom + 16.0),
                escape(name)
            );
        }
        if y_max <= 0.0 {
            no_data(&mut out);
        }
        for (i, (name, values)) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let drawn = values.iter().take(self.groups.len()).filter_map(finite).count();
            let _ = writeln!(
                out,
                "<g class=\"series\" data-name=\"{}\" data-points=\"{drawn}\">",
                escape(name)
            );
            for (g, v) in values.iter().take(self.groups.len()).enumerate() {
                let Some(v) = finite(v) else { continue };
                let x = left + group_w * (g as f64 + 0.5) - bar_w * bars as f64 / 2.0
                    + bar_w * i as f64;
                let y = axis.map(v, bottom, TOP);
                let _ = writeln!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\">\
                     <title>{}: {}</title></rect>\
                     <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9\">{}</text>",
                    n(x + 1.0),
                    n(y),
                    n(bar_w - 2.0),
                    n(bottom - y),
                    escape(name),
                    escape(&short(v)),
                    n(x + bar_w / 2.0),
                    n(y - 3.0),
                    escape(&short(v))
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>\n");
        out
    }
}

/// Stacks whole charts (each an `<svg>` element) into one SVG document.
pub fn stack(charts: &[String]) -> String {
    let height = HEIGHT * charts.len() as f64;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\">\n"
    );
    for (i, chart) in charts.iter().enumerate() {
        // A nested <svg> with a y offset places a whole chart; its own xmlns is harmless.
        let placed = chart.replacen("<svg ", &format!("<svg y=\"{}\" ", n(HEIGHT * i as f64)), 1);
        out.push_str(&placed);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests;

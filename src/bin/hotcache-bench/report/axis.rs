//! Axis ranges and tick labels for the charts.

/// A linear axis with "nice" bounds and a tick step of 1, 2 or 5 times a power of ten.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub step: f64,
}

impl Axis {
    /// An axis covering `lo..=hi` with about `ticks` intervals. Degenerate or
    /// non-finite input gives a sane axis rather than a NaN.
    pub fn nice(lo: f64, hi: f64, ticks: usize) -> Axis {
        let (mut lo, mut hi) = (lo, hi);
        if !lo.is_finite() || !hi.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if lo > hi {
            std::mem::swap(&mut lo, &mut hi);
        }
        if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
            // One value: give it some room, upwards from zero when it is zero.
            if hi == 0.0 {
                hi = 1.0;
            } else {
                let pad = hi.abs() * 0.1;
                lo -= pad;
                hi += pad;
            }
        }
        let raw = (hi - lo) / ticks.max(1) as f64;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw);
        let min = (lo / step).floor() * step;
        let max = (hi / step).ceil() * step;
        Axis { min, max, step }
    }

    /// The tick values from `min` to `max`.
    pub fn ticks(&self) -> Vec<f64> {
        let n = ((self.max - self.min) / self.step).round() as usize;
        (0..=n).map(|i| self.min + i as f64 * self.step).collect()
    }

    /// Maps `v` onto `from..to` (pixels; `to` may be below `from`).
    pub(super) fn map(&self, v: f64, from: f64, to: f64) -> f64 {
        from + (v - self.min) / (self.max - self.min) * (to - from)
    }

    /// A tick label: `k`/`M` suffixes for large values, decimals as the step needs.
    pub fn label(&self, v: f64) -> String {
        let top = self.max.abs().max(self.min.abs());
        let (div, suffix) = if top >= 1e6 {
            (1e6, "M")
        } else if top >= 1e4 {
            (1e3, "k")
        } else {
            (1.0, "")
        };
        let decimals = (-(self.step / div).log10()).ceil().clamp(0.0, 3.0) as usize;
        if v.abs() < self.step * 1e-9 {
            return "0".into();
        }
        format!("{:.*}{suffix}", decimals, v / div)
    }
}

/// A short number for a bar label: three significant digits, `k`/`M` suffixes.
pub fn short(v: f64) -> String {
    let (x, suffix) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let decimals = match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    format!("{x:.decimals$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axes_cover_the_data() {
        let a = Axis::nice(0.0, 183_794.0, 5);
        assert_eq!((a.min, a.max, a.step), (0.0, 200_000.0, 50_000.0));
        assert_eq!(a.ticks().len(), 5);
        assert_eq!(a.label(150_000.0), "150k");
        let a = Axis::nice(0.0, 0.87, 5);
        assert!(a.max >= 0.87 && a.max <= 1.0, "{a:?}");
        assert_eq!(a.label(0.2), "0.2");
        let a = Axis::nice(0.0, 9.0, 10);
        assert_eq!((a.min, a.max, a.step), (0.0, 9.0, 1.0));
        let a = Axis::nice(0.0, 2_500_000.0, 5);
        assert_eq!(a.label(a.max), "2.5M");
        // Degenerate and non-finite input still gives a usable axis.
        for (lo, hi) in [(0.0, 0.0), (5.0, 5.0), (f64::NAN, 1.0), (0.0, f64::INFINITY), (3.0, 1.0)]
        {
            let a = Axis::nice(lo, hi, 5);
            assert!(a.min.is_finite() && a.max.is_finite() && a.max > a.min, "{lo} {hi} {a:?}");
            assert!(a.step > 0.0 && a.ticks().len() >= 2, "{a:?}");
        }
    }
}

//! The Prometheus text exposition format, version 0.0.4, as a small writer: every family gets
//! its `# HELP` and `# TYPE` lines before its samples, help texts and label values are escaped
//! as the format asks, and a histogram is written with cumulative buckets ending in `+Inf`,
//! then `_sum` and `_count`. No `# EOF`: that line belongs to OpenMetrics, not to this format.

use std::fmt::Write as _;

/// The content type of what [`TextWriter`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family's samples mean, its `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (it resets when its process or plugin slot starts over); named `…_total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted in buckets of an upper bound each.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value: counts stay exact integers, measurements are floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count.
    Int(u64),
    /// A measurement.
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

/// One histogram as read at scrape time: counts per bucket (not cumulative; the writer sums
/// them), the upper bounds in the same order, and the sum of observations.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValues<'a> {
    /// Upper bounds, ascending, in the family's unit.
    pub bounds: &'a [f64],
    /// Observations per bucket: one per bound, plus the last for those above every bound.
    pub counts: Vec<u64>,
    /// The sum of all observations, in the family's unit.
    pub sum: f64,
}

/// Builds one exposition. Families are written one at a time: [`TextWriter::family`], then
/// that family's samples.
#[derive(Debug, Default)]
pub struct TextWriter {
    out: String,
}

impl TextWriter {
    /// An empty exposition.
    pub fn new() -> Self {
        TextWriter::default()
    }

    /// Starts the family `name` (a valid metric name, which callers write as constants).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(is_metric_name(name), "invalid metric name {name:?}");
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_into(&mut self.out, help, false);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.sample_with(name, labels, None, value.into());
    }

    /// The samples of one histogram of the current family `name`: `name_bucket` per bound and
    /// `+Inf`, cumulative, then `name_sum` and `name_count`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], values: &HistogramValues) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (index, count) in values.counts.iter().enumerate() {
            cumulative += count;
            let le = match values.bounds.get(index) {
                Some(bound) => format_float(*bound),
                None => "+Inf".to_owned(),
            };
            self.sample_with(&bucket, labels, Some(("le", &le)), Value::Int(cumulative));
        }
        self.sample_with(&format!("{name}_sum"), labels, None, values.sum.into());
        self.sample_with(
            &format!("{name}_count"),
            labels,
            None,
            Value::Int(cumulative),
        );
    }

    fn sample_with(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
        value: Value,
    ) {
        self.out.push_str(name);
        let mut all = labels.iter().copied().chain(extra).peekable();
        if all.peek().is_some() {
            self.out.push('{');
            for (index, (label, value)) in all.enumerate() {
                debug_assert!(is_label_name(label), "invalid label name {label:?}");
                if index > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value, true);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value {
            Value::Int(v) => {
                let _ = write!(self.out, "{v}");
            }
            Value::Float(v) => self.out.push_str(&format_float(v)),
        }
        self.out.push('\n');
    }

    /// The exposition.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A float as the format spells it: Go's `ParseFloat` syntax, with `+Inf`, `-Inf` and `NaN`.
fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        // Rust prints the shortest text that reads back as the same float, never an exponent.
        format!("{v}")
    }
}

/// Escapes a help text (`\` and newline) or a label value (also `"`).
fn escape_into(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_label_values_are_escaped() {
        let mut w = TextWriter::new();
        w.family("toru_x", Kind::Gauge, "a \\ help\nwith \"quotes\"");
        w.sample("toru_x", &[("plugin", "a\"b\\c\nd")], 1u64);
        assert_eq!(
            w.finish(),
            "# HELP toru_x a \\\\ help\\nwith \"quotes\"\n\
             # TYPE toru_x gauge\n\
             toru_x{plugin=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    #[test]
    fn samples_without_labels_have_no_braces_and_floats_no_exponent() {
        let mut w = TextWriter::new();
        w.family("toru_up", Kind::Gauge, "Up.");
        w.sample("toru_up", &[], 0.0001);
        w.sample("toru_up", &[], f64::INFINITY);
        w.sample("toru_up", &[], f64::NAN);
        w.sample("toru_up", &[("a", "1"), ("b", "2")], 12345678901u64);
        let text = w.finish();
        let samples: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            samples,
            [
                "toru_up 0.0001",
                "toru_up +Inf",
                "toru_up NaN",
                "toru_up{a=\"1\",b=\"2\"} 12345678901"
            ]
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf_with_count_equal_to_it() {
        let mut w = TextWriter::new();
        w.family("toru_d_seconds", Kind::Histogram, "D.");
        let values = HistogramValues {
            bounds: &[0.0001, 0.5, 30.0],
            counts: vec![2, 0, 3, 1],
            sum: 7.25,
        };
        w.histogram("toru_d_seconds", &[("plugin", "p")], &values);
        let text = w.finish();
        let samples: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            samples,
            [
                "toru_d_seconds_bucket{plugin=\"p\",le=\"0.0001\"} 2",
                "toru_d_seconds_bucket{plugin=\"p\",le=\"0.5\"} 2",
                "toru_d_seconds_bucket{plugin=\"p\",le=\"30\"} 5",
                "toru_d_seconds_bucket{plugin=\"p\",le=\"+Inf\"} 6",
                "toru_d_seconds_sum{plugin=\"p\"} 7.25",
                "toru_d_seconds_count{plugin=\"p\"} 6",
            ]
        );
    }

    #[test]
    fn names_follow_the_format() {
        for good in ["toru_plugin_up", "process_cpu_seconds_total", "a:b", "_x"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "1x", "toru-plugin", "toru plugin", "é"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        assert!(is_label_name("plugin") && is_label_name("le"));
        assert!(!is_label_name("__name__") && !is_label_name("a:b") && !is_label_name("9"));
    }
}

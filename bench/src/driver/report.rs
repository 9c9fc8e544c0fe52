//! Figures and the report. Every driver prints [`Figure`]s as JSON lines; `run.sh` appends
//! wrk's in the same shape; `report` prints the table, checks the targets (on the median of the
//! runs, also the ones that compare two rows) and writes `results.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

/// One measured quantity, with every run's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// Which scenario of the issue (`1 forwarding`, …).
    pub scenario: String,
    /// What was measured, e.g. `daemon c64 req/s`.
    pub metric: String,
    /// The unit of the values.
    pub unit: String,
    /// One value per run.
    pub runs: Vec<f64>,
    /// The target, `<= X` or `>= X`, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Figure {
    /// A figure without a target.
    pub fn new(scenario: &str, metric: &str, unit: &str, runs: Vec<f64>) -> Figure {
        Figure {
            scenario: scenario.into(),
            metric: metric.into(),
            unit: unit.into(),
            runs,
            target: None,
        }
    }

    /// The same figure with a target.
    pub fn target(mut self, target: &str) -> Figure {
        self.target = Some(target.into());
        self
    }

    fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn met(&self) -> Option<bool> {
        let target = self.target.as_deref()?;
        let (op, value) = target.split_once(' ')?;
        let value: f64 = value.parse().ok()?;
        let m = self.median();
        Some(match op {
            "<=" => m <= value,
            ">=" => m >= value,
            _ => return None,
        })
    }
}

/// `toru-bench report`.
#[derive(clap::Args)]
pub struct Args {
    /// The JSON-lines figures file `run.sh` collected.
    figures: PathBuf,
    /// Where to write the results.
    #[arg(long)]
    json: PathBuf,
    /// A line describing the machine and the run, stored with the results.
    #[arg(long, default_value = "")]
    machine: String,
}

/// Prints the table (to stdout, as the command's output) and writes the JSON.
pub fn run(args: Args) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&args.figures)?;
    let mut figures = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let figure: Figure = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", args.figures.display(), i + 1))?;
        figures.push(figure);
    }
    figures.extend(derived(&figures));
    let mut table = String::from(
        "| scenario | metric | run 1 | run 2 | run 3 | unit | target | met |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for f in &figures {
        let mut runs: Vec<String> = f.runs.iter().map(|v| fmt(*v)).collect();
        runs.resize(3, String::new());
        let met = match f.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            f.scenario,
            f.metric,
            runs[0],
            runs[1],
            runs[2..].join(" "),
            f.unit,
            f.target.as_deref().unwrap_or(""),
            met
        ));
    }
    let results = json!({
        "machine": args.machine,
        "figures": figures.iter().map(|f| json!({
            "scenario": f.scenario, "metric": f.metric, "unit": f.unit, "runs": f.runs,
            "median": f.median(), "target": f.target, "met": f.met(),
        })).collect::<Vec<_>>(),
    });
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&results)?)?;
    Ok(table)
}

fn fmt(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Rows that compare two measured rows run by run: the relative targets.
fn derived(figures: &[Figure]) -> Vec<Figure> {
    let by_metric: BTreeMap<&str, &Figure> =
        figures.iter().map(|f| (f.metric.as_str(), f)).collect();
    let pair = |a: &str, b: &str, op: fn(f64, f64) -> f64| -> Option<Vec<f64>> {
        let (a, b) = (by_metric.get(a)?, by_metric.get(b)?);
        Some(
            a.runs
                .iter()
                .zip(&b.runs)
                .map(|(x, y)| op(*x, *y))
                .collect(),
        )
    };
    let mut out = Vec::new();
    if let Some(runs) = pair("daemon c64 req/s", "nginx c64 req/s", |a, b| a / b) {
        out.push(
            Figure::new("1 forwarding", "daemon / nginx req/s at c64", "×", runs).target(">= 1.2"),
        );
    }
    if let Some(runs) = pair("daemon c1 p50", "nginx c1 p50", |a, b| a - b) {
        out.push(
            Figure::new("1 forwarding", "daemon − nginx p50 at c1", "µs", runs).target("<= 0"),
        );
    }
    if let Some(runs) = pair("daemon c1 p50", "floor ping p50", |a, b| a - b) {
        out.push(
            Figure::new(
                "2 floor",
                "daemon overhead (c1 p50 − floor p50)",
                "µs",
                runs,
            )
            .target("<= 40"),
        );
    }
    out
}

//! Reading the Prometheus text exposition the admin listener serves: every sample with its
//! labels, to look values up by name and labels; and `promtool check metrics`, the Prometheus
//! project's own linter, on the same text.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One sample line: `name{label="value",...} number`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub struct Exposition {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Exposition {
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| parse_sample(line).unwrap_or_else(|| panic!("not a sample: {line:?}")))
            .collect();
        Self {
            text: text.to_owned(),
            samples,
        }
    }

    /// The samples named `name` whose labels include every pair of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one sample named `name` with `labels`; panics with the exposition otherwise.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).as_slice() {
            [one] => one.value,
            found => panic!(
                "{} samples of {name} with {labels:?}, one expected:\n{}",
                found.len(),
                self.text
            ),
        }
    }

    /// The sum over every sample named `name` with `labels` (0 if none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|s| s.value).sum()
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    let (name, labels) = match head.split_once('{') {
        None => (head, BTreeMap::new()),
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y \" z"` (values may hold escaped quotes, backslashes and newlines).
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (at, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break at,
                other => value.push(other),
            }
        };
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        rest = after.get(end + 1..)?.trim_start_matches(',');
    }
    Some(labels)
}

/// Runs `promtool check metrics` on `text`: `Some(output)` with its complaints if it rejects
/// the text, `None` if it accepts it (or promtool is missing where not required: see
/// `external_tools`).
pub fn promtool_check(text: &str) -> Option<String> {
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(_) => {
            let what = "promtool check metrics";
            super::tool_missing("promtool", "H2GATE_REQUIRE_PROMTOOL", what);
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("promtool stdin");
    stdin.write_all(text.as_bytes()).expect("write to promtool");
    drop(stdin);
    let output = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // promtool exits 0 when the text parses and breaks no naming rule it enforces.
    (!output.status.success() || !said.trim().is_empty()).then_some(said)
}

#[test]
fn parses_samples_with_escaped_labels() {
    let exposition = Exposition::parse(
        "# HELP x y\n# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"r\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 2\n",
    );
    assert_eq!(exposition.value("x_total", &[("b", "q\"r")]), 3.0);
    assert_eq!(exposition.value("up", &[]), 1.0);
    assert_eq!(exposition.value("h_bucket", &[("le", "+Inf")]), 2.0);
}

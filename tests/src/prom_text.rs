//! A strict reader of the Prometheus text exposition format (version
//! 0.0.4), for tests that scrape `/metrics`: every line must be a `# HELP`,
//! a `# TYPE`, another comment, a blank line or a well-formed sample; a
//! family's samples must follow its `# TYPE` without another family in
//! between, carry only the sample names its type allows (`_bucket` with an
//! `le` label, `_sum` and `_count` for a histogram), never repeat a label
//! set, and a histogram's buckets must be cumulative up to a `+Inf` bucket
//! equal to its `_count`. Anything else is an error naming the line.
//!
//! ```
//! let text = "# HELP up Up.\n# TYPE up gauge\nup{job=\"a\"} 1\n";
//! let scrape = kws_tests::prom_text::parse(text).unwrap();
//! let up = scrape.family("up").unwrap();
//! assert_eq!(up.kind, "gauge");
//! assert_eq!(up.label_names(), ["job"].map(String::from).into());
//! assert_eq!(scrape.value("up", &[("job", "a")]), Some(1.0));
//! ```

use std::collections::{BTreeMap, BTreeSet};

/// One sample: its name (with `_bucket`, `_sum`, `_count` for a
/// histogram), its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A metric family: its `# TYPE` (`counter`, `gauge`, `histogram`,
/// `summary`, `untyped`), its help, and its samples in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

impl Family {
    /// The label names its samples carry, without a histogram's `le`.
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.keys())
            .filter(|k| !(self.kind == "histogram" && *k == "le"))
            .cloned()
            .collect()
    }
}

/// A whole scrape, by family name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    pub families: BTreeMap<String, Family>,
}

impl Scrape {
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.get(name)
    }

    /// The sample named `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// The sum of the samples named `name` whose labels include `labels`
    /// (0 when there is none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.families
            .values()
            .flat_map(|f| &f.samples)
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

/// Reads a scrape, or says which line breaks the format and how.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape::default();
    // The family whose samples are being read, and the families done.
    let mut current: Option<String> = None;
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            let keyword = words.next().unwrap_or_default();
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = words.next().ok_or_else(|| at("no metric name".into()))?;
            check_name(name).map_err(at)?;
            let rest = words.next().unwrap_or_default();
            if current.as_deref() != Some(name) {
                if let Some(done) = current.take() {
                    closed.insert(done);
                }
                if closed.contains(name) {
                    return Err(at(format!("{name} appears again after other families")));
                }
                current = Some(name.to_string());
            }
            let family = scrape
                .families
                .entry(name.to_string())
                .or_insert_with(|| Family {
                    kind: "untyped".into(),
                    help: None,
                    samples: Vec::new(),
                });
            if keyword == "HELP" {
                if family.help.replace(rest.to_string()).is_some() {
                    return Err(at(format!("a second HELP for {name}")));
                }
                continue;
            }
            if !family.samples.is_empty() {
                return Err(at(format!("the TYPE of {name} comes after its samples")));
            }
            if !matches!(
                rest,
                "counter" | "gauge" | "histogram" | "summary" | "untyped"
            ) {
                return Err(at(format!("unknown type {rest:?}")));
            }
            if family.kind != "untyped" {
                return Err(at(format!("a second TYPE for {name}")));
            }
            family.kind = rest.to_string();
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let family_name = owner(&scrape, current.as_deref(), &sample.name);
        if current.as_deref() != Some(family_name.as_str()) {
            if let Some(done) = current.take() {
                closed.insert(done);
            }
            if closed.contains(&family_name) {
                return Err(at(format!(
                    "{family_name} appears again after other families"
                )));
            }
            current = Some(family_name.clone());
        }
        let family = scrape
            .families
            .entry(family_name.clone())
            .or_insert_with(|| Family {
                kind: "untyped".into(),
                help: None,
                samples: Vec::new(),
            });
        let suffix = &sample.name[family_name.len()..];
        let allowed = match family.kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"].contains(&suffix),
            "summary" => ["", "_sum", "_count"].contains(&suffix),
            _ => suffix.is_empty(),
        };
        if !allowed {
            return Err(at(format!(
                "{} is not a sample of the {} {family_name}",
                sample.name, family.kind
            )));
        }
        if suffix == "_bucket" && !sample.labels.contains_key("le") {
            return Err(at("a bucket without an le label".into()));
        }
        let key = (
            sample.name.clone(),
            sample
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        if !seen.insert(key) {
            return Err(at("the same sample twice".into()));
        }
        family.samples.push(sample);
    }
    for (name, family) in &scrape.families {
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(scrape)
}

/// The family a sample belongs to: the current one if the name is its or
/// one of its suffixed names, else a family of its own name.
fn owner(scrape: &Scrape, current: Option<&str>, sample: &str) -> String {
    if let Some(current) = current
        && let Some(family) = scrape.families.get(current)
    {
        let suffixes: &[&str] = match family.kind.as_str() {
            "histogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            _ => &[""],
        };
        if suffixes
            .iter()
            .any(|suffix| sample.strip_suffix(suffix) == Some(current))
        {
            return current.to_string();
        }
    }
    sample.to_string()
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a metric name"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a label name"))
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("{text:?} is not a value")),
    }
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut end = None;
        loop {
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let start = chars.peek().map(|(i, _)| *i).unwrap_or_default();
            let mut eq = None;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    eq = Some(i);
                    break;
                }
            }
            let eq = eq.ok_or("a label without =")?;
            let label = &inner[start..eq];
            check_label_name(label)?;
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("the value of {label} is not quoted"));
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("a bad escape \\{other:?}")),
                    },
                    '\n' => return Err("a newline in a label value".into()),
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("the value of {label} is not closed"));
            }
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("the label {label} twice"));
            }
            match chars.peek() {
                Some((_, ',')) => {
                    chars.next();
                }
                Some((_, '}')) => {}
                _ => return Err("labels not separated by a comma".into()),
            }
        }
        let end = end.ok_or("labels not closed by }")?;
        rest = &inner[end + 1..];
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = parse_value(fields.next().unwrap_or_default())?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("{timestamp:?} is not a timestamp"))?;
    }
    if fields.next().is_some() {
        return Err("more than a value and a timestamp".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Per label set: cumulative buckets, a `+Inf` one equal to `_count`, and a
/// `_sum`.
fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);
    let mut series: BTreeMap<Vec<(String, String)>, Series> = BTreeMap::new();
    for sample in &family.samples {
        let key: Vec<(String, String)> = sample
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let entry = series.entry(key).or_default();
        match &sample.name[name.len()..] {
            "_bucket" => entry
                .0
                .push((parse_value(&sample.labels["le"])?, sample.value)),
            "_count" => entry.1 = Some(sample.value),
            _ => entry.2 = Some(sample.value),
        }
    }
    for (labels, (mut buckets, count, sum)) in series {
        let what = format!("histogram {name} {labels:?}");
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(format!("{what}: buckets are not cumulative"));
        }
        let inf = buckets
            .last()
            .filter(|b| b.0 == f64::INFINITY)
            .ok_or(format!("{what}: no +Inf bucket"))?;
        if Some(inf.1) != count {
            return Err(format!("{what}: +Inf bucket {} but count {count:?}", inf.1));
        }
        if sum.is_none() {
            return Err(format!("{what}: no _sum"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"uote\"} 3\n\
        # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n\
        # some comment\nplain 4 1700000000\n";

    #[test]
    fn reads_families_labels_and_values() {
        let scrape = parse(GOOD).unwrap();
        assert_eq!(scrape.family("a_total").unwrap().kind, "counter");
        assert_eq!(
            scrape.value("a_total", &[("x", "1"), ("y", "q\"uote")]),
            Some(3.0)
        );
        assert_eq!(scrape.family("h").unwrap().label_names(), BTreeSet::new());
        assert_eq!(scrape.value("h_count", &[]), Some(2.0));
        assert_eq!(scrape.family("plain").unwrap().kind, "untyped");
        assert_eq!(scrape.sum("a_total", &[("x", "1")]), 3.0);
    }

    #[test]
    fn refuses_what_breaks_the_format() {
        for (text, why) in [
            ("a{x=1} 1\n", "not quoted"),
            ("a{x=\"1\" 1\n", "separated"),
            ("a 1 2 3\n", "more than"),
            ("a{x=\"1\"} one\n", "not a value"),
            ("# TYPE a gauge\na 1\n# TYPE a gauge\n", "after its samples"),
            ("# TYPE a gauge\n# TYPE a gauge\n", "second TYPE"),
            (
                "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",
                "appears again",
            ),
            ("# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "twice"),
            ("a 1\na 2\n", "twice"),
            ("# TYPE a blob\n", "unknown type"),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                "cumulative",
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
                "count",
            ),
            ("# TYPE h histogram\nh_bucket 1\n", "le label"),
            ("0a 1\n", "metric name"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}

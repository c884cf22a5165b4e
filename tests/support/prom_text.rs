//! A strict parser of the Prometheus text exposition format 0.0.4, for the
//! metrics-file tests. Stricter than Prometheus where the agent's file has
//! no reason to use a freedom: every family must have `# HELP` and
//! `# TYPE` before its first sample, a family's lines are contiguous, no
//! blank lines, no comments other than HELP and TYPE, and the text ends
//! with a newline. Errors name the line.
//!
//! Include with `#[path = "support/prom_text.rs"] mod prom_text;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: Option<String>,
    pub kind: Option<String>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the series `name{labels}`; panics if it is absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        self.family(name)
            .and_then(|f| f.samples.iter().find(|s| s.labels == want))
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no series {name}{want:?}"))
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Undoes `\\` and `\n` (and `\"` when `quote`); any other escape is an error.
fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => {
            let ok = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
            if !ok {
                return Err(format!("bad value {s:?}"));
            }
            s.parse::<f64>()
                .map_err(|e| format!("bad value {s:?}: {e}"))
        }
    }
}

/// `{a="x",b="y"}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("expected '{'")?;
    if let Some(r) = rest.strip_prefix('}') {
        return Ok((labels, r));
    }
    loop {
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut end = None;
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, '\n') => return Err("newline in label value".into()),
                _ => {}
            }
        }
        let end = end.ok_or("unterminated label value")?;
        let value = unescape(&rest[..end], true)?;
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
            if let Some(r) = rest.strip_prefix('}') {
                return Ok((labels, r));
            }
        } else if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        } else {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

pub fn parse(text: &str) -> Result<Exposition, String> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err("the text must be non-empty and end with a newline".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut closed: BTreeSet<String> = BTreeSet::new();
    let mut series: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        // Opens (or continues) the family `name`; a family whose lines were
        // interrupted by another family's may not come back.
        let mut open = |name: &str| -> Result<usize, String> {
            if families.last().is_some_and(|f| f.name == name) {
                return Ok(families.len() - 1);
            }
            if let Some(last) = families.last() {
                closed.insert(last.name.clone());
            }
            if closed.contains(name) {
                return Err(format!("family {name} is not contiguous"));
            }
            families.push(Family {
                name: name.to_string(),
                help: None,
                kind: None,
                samples: Vec::new(),
            });
            Ok(families.len() - 1)
        };
        if line.is_empty() {
            return Err(at("blank line".into()));
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            let i = open(name).map_err(at)?;
            let f = &mut families[i];
            if f.help.is_some() || !f.samples.is_empty() {
                return Err(at("HELP twice or after samples".into()));
            }
            f.help = Some(unescape(help, false).map_err(at)?);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without a type".into()))?;
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if !["counter", "gauge", "untyped"].contains(&kind) {
                return Err(at(format!("type {kind:?} not expected here")));
            }
            let i = open(name).map_err(at)?;
            let f = &mut families[i];
            if f.kind.is_some() || !f.samples.is_empty() {
                return Err(at("TYPE twice or after samples".into()));
            }
            f.kind = Some(kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            return Err(at("comment other than HELP or TYPE".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?;
        let mut fields = rest.split(' ');
        let value = parse_value(fields.next().unwrap_or_default()).map_err(at)?;
        let timestamp = match fields.next() {
            None => None,
            Some(t) => Some(
                t.parse::<i64>()
                    .map_err(|e| at(format!("bad timestamp: {e}")))?,
            ),
        };
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        let i = open(name).map_err(at)?;
        let f = &mut families[i];
        if f.help.is_none() || f.kind.is_none() {
            return Err(at("sample before its HELP and TYPE".into()));
        }
        let key = (
            name.to_string(),
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        );
        if !series.insert(key) {
            return Err(at("duplicate series".into()));
        }
        f.samples.push(Sample {
            labels,
            value,
            timestamp,
        });
    }
    if let Some(f) = families.iter().find(|f| f.samples.is_empty()) {
        return Err(format!("family {} has no sample", f.name));
    }
    Ok(Exposition { families })
}

/// The parser refuses what it must (run by each test file including it).
pub fn self_check() {
    let good = "# HELP a_b x\\ny\n# TYPE a_b gauge\na_b{l=\"q\\\"\\\\\\n\"} 1\na_b 2.5 17\n";
    let e = parse(good).unwrap();
    assert_eq!(e.value("a_b", &[("l", "q\"\\\n")]), 1.0);
    assert_eq!(e.family("a_b").unwrap().help.as_deref(), Some("x\ny"));
    for bad in [
        "",
        "# HELP a x\n# TYPE a gauge\na 1",
        "a 1\n",
        "# TYPE a gauge\na 1\n",
        "# HELP a x\na 1\n",
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"1\"} 1\na{l=\"1\"} 2\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=\"1\",l=\"2\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{1l=\"1\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=1} 1\n",
        "# HELP a x\n# TYPE a gauge\na one\n",
        "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na 2\n",
        "# HELP a x\n# TYPE a gauge\n\na 1\n",
        "# HELP a x\n# TYPE a gauge\n# other\na 1\n",
        "# HELP a x\n# TYPE a gauge\na 1 2 3\n",
        "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n",
        "# HELP a x\n# TYPE a gauge\n",
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad:?}");
    }
}

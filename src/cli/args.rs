//! Parsing and checking of command-line values, done before anything is sent, so a typo never leaves a
//! half-made maintenance behind. Pure; each parser returns the message clap prints (exit code 2).
use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// A NodeMaintenance's name is also the value of the node's `drydock.dev/maintenance` taint, and taint values
/// stop at 63 characters (a label value), so names are kept to that although the object allows 253.
pub const MAX_NAME: usize = 63;

/// `<node>-<yyyymmdd-hhmmss>` (UTC), the node part cut so the whole stays a valid name of [`MAX_NAME`].
pub fn default_name(node: &str, now: Timestamp) -> String {
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let keep = MAX_NAME - stamp.len() - 1;
    let cut: String = node
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' })
        .take(keep)
        .collect();
    let cut = cut.trim_matches(['-', '.']);
    let node_part = if cut.is_empty() { "node" } else { cut };
    format!("{node_part}-{stamp}")
}

/// `--name`: a DNS subdomain that is also a valid taint value (see [`MAX_NAME`]).
pub fn name(s: &str) -> Result<String, String> {
    if s.len() <= MAX_NAME && dns_subdomain(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a usable name: use at most {MAX_NAME} lowercase letters, digits, '-' or '.', each \
             dot-separated part starting and ending with a letter or digit (it becomes the value of the node's \
             drydock.dev/maintenance taint)"
        ))
    }
}

/// `--label k=v`.
pub fn label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && valid_key(k) && valid_value(v) => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not a label: write key=value, e.g. team=storage")),
    }
}

/// `--timeout`, `--duration`: a Go duration such as `90s`, `30m` or `2h`, as in the NodeMaintenance spec.
pub fn duration(s: &str) -> Result<Duration, String> {
    crate::plan::window::parse_duration("the duration", s).map_err(|e| e.to_string())
}

/// `--duration`: checked like [`duration`], kept as written for spec.window.duration.
pub fn go_duration(s: &str) -> Result<String, String> {
    duration(s).map(|_| s.to_string())
}

/// `--selector`: a label selector as kubectl writes it (`app=web`, `tier!=db`, `env in (a,b)`, `env notin (c)`,
/// `canary`, `!canary`, comma-separated, all must hold), as a LabelSelector for spec.drain.podSelector.
pub fn selector(s: &str) -> Result<LabelSelector, String> {
    let mut match_labels = BTreeMap::new();
    let mut exprs = Vec::new();
    for part in split_top_level(s)? {
        let req = |key: &str, op: &str, values: Option<Vec<String>>| -> Result<LabelSelectorRequirement, String> {
            let key = key.trim();
            if !valid_key(key) {
                return Err(format!("{s:?}: {key:?} is not a label key"));
            }
            if let Some(v) = values.iter().flatten().find(|v| !valid_value(v)) {
                return Err(format!("{s:?}: {v:?} is not a label value"));
            }
            Ok(LabelSelectorRequirement {
                key: key.to_string(),
                operator: op.into(),
                values,
            })
        };
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("{s:?}: write a set as (a,b)"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let part = part.trim();
        if let Some((k, v)) = part.split_once("!=") {
            exprs.push(req(k, "NotIn", Some(vec![v.trim().to_string()]))?);
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            let r = req(k, "In", Some(vec![v.trim().to_string()]))?;
            // matchLabels holds one value per key; a key given twice must match both (as in kubectl).
            match match_labels.entry(r.key.clone()) {
                std::collections::btree_map::Entry::Occupied(_) => exprs.push(r),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v.trim().to_string());
                }
            }
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            exprs.push(req(k, "NotIn", Some(set(rest)?))?);
        } else if let Some((k, rest)) = part.split_once(" in ") {
            exprs.push(req(k, "In", Some(set(rest)?))?);
        } else if let Some(k) = part.strip_prefix('!') {
            exprs.push(req(k, "DoesNotExist", None)?);
        } else {
            exprs.push(req(part, "Exists", None)?);
        }
    }
    Ok(LabelSelector {
        match_labels: (!match_labels.is_empty()).then_some(match_labels),
        match_expressions: (!exprs.is_empty()).then_some(exprs),
    })
}

/// `-l`: a label selector checked like [`selector`], kept as written for the API server's list.
pub fn selector_text(s: &str) -> Result<String, String> {
    selector(s).map(|_| s.to_string())
}

/// Splits at commas outside parentheses; refuses empty requirements and unbalanced parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            break;
        }
    }
    parts.push(&s[start..]);
    if depth != 0 || parts.iter().any(|p| p.trim().is_empty()) {
        return Err(format!(
            "{s:?} is not a label selector: write e.g. app=web,tier!=db or env in (a,b)"
        ));
    }
    Ok(parts)
}

/// A qualified name, optionally with a DNS prefix: `app`, `example.com/tier`.
fn valid_key(k: &str) -> bool {
    let (prefix, name) = k.rsplit_once('/').unwrap_or(("", k));
    let prefix_ok = prefix.is_empty() && !k.contains('/') || dns_subdomain(prefix);
    prefix_ok && !name.is_empty() && valid_value(name)
}

/// A DNS-1123 subdomain (object names, label key prefixes): at most 253 characters, dot-separated parts of
/// lowercase letters, digits and '-', each starting and ending with a letter or digit.
fn dns_subdomain(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 253
        && s.split('.')
            .all(|part| part.starts_with(alnum) && part.ends_with(alnum) && part.chars().all(|c| alnum(c) || c == '-'))
}

/// A label value: empty, or up to 63 of `[A-Za-z0-9-_.]` starting and ending alphanumeric.
fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{Selector, SelectorExt};

    fn ts() -> Timestamp {
        "2026-11-22T03:04:05Z".parse().expect("ts")
    }

    #[test]
    fn default_names_are_stamped_and_fit_a_taint_value() {
        assert_eq!(default_name("worker-1", ts()), "worker-1-20261122-030405");
        assert_eq!(
            default_name("ip-10-0-0-1.ec2.internal", ts()),
            "ip-10-0-0-1.ec2.internal-20261122-030405"
        );
        let long = default_name(&format!("{}.x", "a".repeat(300)), ts());
        assert_eq!(long.len(), MAX_NAME);
        assert!(name(&long).is_ok(), "{long}");
        // A cut that ends on a separator must not leave "--" or ".-" before the stamp.
        let awkward = default_name(&format!("{}-b", "a".repeat(46)), ts());
        assert!(name(&awkward).is_ok() && !awkward.contains("--"), "{awkward}");
        assert_eq!(default_name("---", ts()), "node-20261122-030405");
    }

    #[test]
    fn names_must_be_valid_taint_values() {
        assert!(name("worker-1-kernel").is_ok());
        assert!(name("a.b-c").is_ok());
        for bad in ["", "Upper", "-x", "x-", "a_b", &"a".repeat(64)] {
            let e = name(bad).expect_err(bad);
            assert!(e.contains("at most 63"), "{e}");
        }
    }

    #[test]
    fn labels_are_key_equals_value() {
        assert_eq!(
            label("drydock.dev/e2e-env=x-1").expect("label"),
            ("drydock.dev/e2e-env".into(), "x-1".into())
        );
        assert_eq!(label("k=").expect("empty value"), ("k".into(), "".into()));
        for bad in ["novalue", "=v", "k=v w", "a/b/c=v"] {
            assert!(label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_go_durations() {
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(duration("5").is_err());
        assert!(duration("0s").is_err());
        assert!(duration("-1m").is_err());
        assert_eq!(go_duration("2h"), Ok("2h".to_string()));
    }

    fn matches(sel: &str, labels: &[(&str, &str)]) -> bool {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Selector::try_from(selector(sel).expect(sel))
            .expect("valid")
            .matches(&labels)
    }

    #[test]
    fn selectors_read_like_kubectl() {
        assert!(matches("app=web", &[("app", "web")]));
        assert!(matches("app==web", &[("app", "web")]));
        assert!(!matches("app=web", &[("app", "db")]));
        assert!(matches("tier!=db", &[]));
        assert!(!matches("tier!=db", &[("tier", "db")]));
        assert!(matches("env in (a, b),canary", &[("env", "b"), ("canary", "")]));
        assert!(!matches("env in (a,b)", &[("env", "c")]));
        assert!(matches("env notin (a,b),!canary", &[("env", "c")]));
        assert!(!matches("!canary", &[("canary", "1")]));
        assert!(matches("example.com/tier=x", &[("example.com/tier", "x")]));
        assert_eq!(
            selector("app=web").expect("sel").match_labels,
            Some(BTreeMap::from([("app".into(), "web".into())]))
        );
        for bad in ["", "a,,b", "env in (a", "env in a,b)", "a b=c", "k=v w", "env in (a b)"] {
            assert!(selector(bad).is_err(), "{bad:?}");
        }
    }
}

//! The receivers' configuration: the key `receivers.yaml` of the Secret `drydock run --notify-secret` names,
//! with header values taken from other keys of the same Secret. Only the operator's installation writes it; no
//! NodeMaintenance or MaintenanceSchedule can name a URL.
//!
//! ```yaml
//! receivers:
//! - name: ops                       # in logs and metrics
//!   url: https://hooks.example.com/drydock
//!   format: cloudevents             # or slack
//!   events: [started, failed]       # optional; default every kind
//!   secretHeaders:                  # optional: header name -> key of this Secret holding its value
//!     Authorization: ops-token
//! ```
use std::collections::{BTreeMap, BTreeSet};

use http::{HeaderName, HeaderValue, Uri};
use serde::Deserialize;

use crate::plan::notify::Kind;

/// The Secret key that holds the receivers.
pub const RECEIVERS_KEY: &str = "receivers.yaml";

/// How a receiver wants its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CloudEvents 1.0, structured JSON (`application/cloudevents+json`).
    Cloudevents,
    /// A Slack incoming webhook's `{"text": ...}` (also what Mattermost, Rocket.Chat and others take).
    Slack,
}

/// One receiver, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub url: Uri,
    pub format: Format,
    /// None: every kind.
    pub events: Option<BTreeSet<Kind>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Receiver {
    pub fn wants(&self, kind: Kind) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&kind))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    receivers: Vec<Spec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    name: String,
    url: String,
    format: Format,
    events: Option<Vec<String>>,
    #[serde(default)]
    secret_headers: BTreeMap<String, String>,
}

/// The receivers of a Secret's `data`, or what is wrong with them, in words for the log.
pub fn parse(data: &BTreeMap<String, Vec<u8>>) -> Result<Vec<Receiver>, String> {
    let text = data
        .get(RECEIVERS_KEY)
        .ok_or_else(|| format!("it has no key {RECEIVERS_KEY}"))?;
    let text = std::str::from_utf8(text).map_err(|_| format!("{RECEIVERS_KEY} is not UTF-8"))?;
    let file: File = serde_yaml_ng::from_str(text).map_err(|e| format!("{RECEIVERS_KEY}: {e}"))?;
    let mut names = BTreeSet::new();
    file.receivers
        .into_iter()
        .enumerate()
        .map(|(i, spec)| {
            let at = format!("{RECEIVERS_KEY}: receivers[{i}] ({})", spec.name);
            if spec.name.is_empty() || !names.insert(spec.name.clone()) {
                return Err(format!("{at}: each receiver needs a name of its own"));
            }
            receiver(spec, data).map_err(|e| format!("{at}: {e}"))
        })
        .collect()
}

fn receiver(spec: Spec, data: &BTreeMap<String, Vec<u8>>) -> Result<Receiver, String> {
    let url: Uri = spec
        .url
        .parse()
        .map_err(|e| format!("url {:?} is not a URL: {e}", spec.url))?;
    if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none_or(str::is_empty) {
        return Err(format!(
            "url {:?} must be an http:// or https:// URL with a host",
            spec.url
        ));
    }
    let events = spec
        .events
        .map(|list| {
            list.iter()
                .map(|e| {
                    Kind::parse(e).ok_or_else(|| {
                        let known: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                        format!("unknown event {e:?} (known: {})", known.join(", "))
                    })
                })
                .collect::<Result<BTreeSet<_>, _>>()
        })
        .transpose()?;
    let headers = spec
        .secret_headers
        .iter()
        .map(|(header, key)| {
            let name = HeaderName::try_from(header.as_str()).map_err(|_| format!("{header:?} is not a header name"))?;
            let value = data
                .get(key)
                .ok_or_else(|| format!("header {header} names the key {key:?}, which the Secret does not have"))?;
            let value = HeaderValue::from_bytes(trim(value))
                .map_err(|_| format!("the key {key:?} is not a valid value for header {header}"))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Receiver {
        name: spec.name,
        url,
        format: spec.format,
        events,
        headers,
    })
}

/// A token written with `echo` into a Secret ends with a newline: not part of the value.
fn trim(value: &[u8]) -> &[u8] {
    let end = value
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(yaml: &str, extra: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        let mut data = BTreeMap::from([(RECEIVERS_KEY.to_string(), yaml.as_bytes().to_vec())]);
        for (k, v) in extra {
            data.insert(k.to_string(), v.as_bytes().to_vec());
        }
        data
    }

    #[test]
    fn receivers_are_read_with_their_filters_and_secret_headers() {
        let yaml = "receivers:\n\
            - {name: ops, url: 'https://hooks.example.com/x', format: cloudevents, events: [started, timed_out],\n\
            \x20  secretHeaders: {Authorization: token}}\n\
            - {name: chat, url: 'http://10.0.0.1:8080/hook', format: slack}\n";
        let got = parse(&secret(yaml, &[("token", "Bearer s3cret\n")])).expect("valid");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "ops");
        assert_eq!(got[0].format, Format::Cloudevents);
        assert!(got[0].wants(Kind::Started) && got[0].wants(Kind::TimedOut) && !got[0].wants(Kind::Drained));
        assert_eq!(got[0].headers[0].0, "authorization");
        assert_eq!(got[0].headers[0].1, "Bearer s3cret");
        assert_eq!(got[1].format, Format::Slack);
        assert!(Kind::ALL.into_iter().all(|k| got[1].wants(k)));
        assert_eq!(got[1].url.to_string(), "http://10.0.0.1:8080/hook");
    }

    #[test]
    fn an_empty_list_is_valid() {
        assert_eq!(parse(&secret("receivers: []\n", &[])), Ok(vec![]));
    }

    #[test]
    fn what_is_wrong_is_said_in_words() {
        let cases = [
            ("{}", "no key"),
            (
                "receivers: [{name: a, url: 'ftp://x/y', format: slack}]",
                "must be an http:// or https://",
            ),
            (
                "receivers: [{name: a, url: 'not a url', format: slack}]",
                "is not a URL",
            ),
            (
                "receivers: [{name: a, url: 'http://x', format: teams}]",
                "unknown variant `teams`",
            ),
            (
                "receivers: [{name: a, url: 'http://x', format: slack, events: [done]}]",
                "unknown event \"done\"",
            ),
            (
                "receivers: [{name: a, url: 'http://x', format: slack}, {name: a, url: 'http://y', format: slack}]",
                "receivers[1] (a): each receiver needs a name of its own",
            ),
            (
                "receivers: [{name: a, url: 'http://x', format: slack, secretHeaders: {X-Token: missing}}]",
                "names the key \"missing\", which the Secret does not have",
            ),
            (
                "receivers: [{name: a, url: 'http://x', format: slack, color: red}]",
                "unknown field `color`",
            ),
        ];
        for (yaml, words) in cases {
            let data = if yaml == "{}" {
                BTreeMap::new()
            } else {
                secret(yaml, &[])
            };
            let err = parse(&data).expect_err(yaml);
            assert!(err.contains(words), "{yaml}: {err}");
        }
    }
}

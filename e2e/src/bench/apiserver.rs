//! Counting requests, two ways.
//!
//! - The API server's own /metrics: `apiserver_request_total` before and after a window. It has no user
//!   label, so its delta is the whole cluster's reaction to a drain: the drainer's requests, and the ReplicaSet
//!   controller's, the scheduler's and kwok's for the replacement pods, the disruption controller's...
//! - The audit log: e2e/cluster/up.sh logs every request of the ServiceAccounts in namespace drydock-bench, so
//!   running each drainer under its own ServiceAccount gives its own requests, by verb. That is the honest
//!   "requests per evicted pod".
use std::{
    collections::BTreeMap,
    io::{Read, Seek, SeekFrom},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use jiff::Timestamp;
use kube::Client;

use super::Result;

/// `apiserver_request_total` summed by (verb, resource[/subresource]).
#[derive(Clone, Debug, Default)]
pub struct RequestTotals(pub BTreeMap<(String, String), f64>);

impl RequestTotals {
    pub async fn scrape(client: &Client) -> Result<Self> {
        let req = kube::core::Request::new("").get("metrics", &Default::default())?;
        let text = client.request_text(req).await?;
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let labels = parse_labels(labels);
            let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
            let resource = match get("subresource").as_str() {
                "" => get("resource"),
                sub => format!("{}/{sub}", get("resource")),
            };
            *out.entry((get("verb"), resource)).or_insert(0.0) += value.trim().parse::<f64>().unwrap_or(0.0);
        }
        Ok(Self(out))
    }

    /// What happened between `before` and `self`, by verb.
    pub fn since(&self, before: &Self) -> BTreeMap<String, f64> {
        let mut by_verb = BTreeMap::new();
        for ((verb, resource), v) in &self.0 {
            let d = v - before.0.get(&(verb.clone(), resource.clone())).copied().unwrap_or(0.0);
            if d > 0.0 {
                *by_verb.entry(verb.clone()).or_insert(0.0) += d;
            }
        }
        by_verb
    }
}

/// `code="200",verb="GET"` -> map. Values are Prometheus-escaped (\" \\ \n).
fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        if chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => {}
                },
                '"' => break,
                o => value.push(o),
            }
        }
        out.insert(key.trim_start_matches(',').trim().to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// Where the audit log stood at some moment: read on from here later (across a rotation too).
#[derive(Clone, Debug)]
pub struct AuditMark {
    path: PathBuf,
    inode: u64,
    offset: u64,
}

/// One request, from its audit events.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Request {
    pub user: String,
    pub verb: String,
    /// resource or resource/subresource (nonResourceURL for those).
    pub resource: String,
    pub name: String,
    pub code: i64,
    pub received: Timestamp,
    /// When the response was complete (for a watch: when it started).
    pub done: Timestamp,
}

impl AuditMark {
    pub fn now(path: &Path) -> Self {
        let (inode, offset) = std::fs::metadata(path).map(|m| (m.ino(), m.len())).unwrap_or((0, 0));
        Self {
            path: path.to_path_buf(),
            inode,
            offset,
        }
    }

    /// Requests of users starting with `user_prefix` logged since the mark, one per audit ID.
    pub fn requests(&self, user_prefix: &str) -> Result<Vec<Request>> {
        let mut text = String::new();
        let current = std::fs::metadata(&self.path)?;
        if current.ino() == self.inode {
            read_from(&self.path, self.offset, &mut text)?;
        } else {
            // Rotated: the marked file was renamed next to it (same inode); finish it, then read the new one.
            if let Some(old) = std::fs::read_dir(self.path.parent().unwrap_or(Path::new(".")))?
                .flatten()
                .find(|e| e.metadata().is_ok_and(|m| m.ino() == self.inode))
            {
                read_from(&old.path(), self.offset, &mut text)?;
            }
            read_from(&self.path, 0, &mut text)?;
        }
        let mut by_id: BTreeMap<String, Request> = BTreeMap::new();
        for line in text.lines() {
            let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let user = e["user"]["username"].as_str().unwrap_or("");
            if !user.starts_with(user_prefix) {
                continue;
            }
            let ts = |k: &str| e[k].as_str().and_then(|s| s.parse::<Timestamp>().ok());
            let (Some(received), Some(stamp)) = (ts("requestReceivedTimestamp"), ts("stageTimestamp")) else {
                continue;
            };
            let o = &e["objectRef"];
            let resource = match (o["resource"].as_str(), o["subresource"].as_str()) {
                (Some(r), Some(s)) => format!("{r}/{s}"),
                (Some(r), None) => r.to_string(),
                _ => e["requestURI"]
                    .as_str()
                    .unwrap_or("")
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            let id = e["auditID"].as_str().unwrap_or("").to_string();
            // A watch logs ResponseStarted and, when it ends, ResponseComplete: the first event is kept.
            let r = by_id.entry(id).or_insert_with(|| Request {
                user: user.to_string(),
                verb: e["verb"].as_str().unwrap_or("").to_string(),
                resource,
                name: o["name"].as_str().unwrap_or("").to_string(),
                code: 0,
                received,
                done: stamp,
            });
            if let Some(c) = e["responseStatus"]["code"].as_i64() {
                r.code = c;
            }
        }
        let mut out: Vec<Request> = by_id.into_values().collect();
        out.sort_by_key(|r| r.received);
        Ok(out)
    }
}

fn read_from(path: &Path, offset: u64, out: &mut String) -> Result<()> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    out.push_str(&String::from_utf8_lossy(&buf));
    Ok(())
}

/// Requests by verb (lowercase, as the audit log writes them).
pub fn by_verb<'a>(requests: impl IntoIterator<Item = &'a Request>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for r in requests {
        *m.entry(r.verb.clone()).or_insert(0.0) += 1.0;
    }
    m
}

/// Requests by "verb resource", for the JSON (what exactly each drainer asks).
pub fn by_verb_resource<'a>(requests: impl IntoIterator<Item = &'a Request>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for r in requests {
        *m.entry(format!("{} {}", r.verb, r.resource)).or_insert(0.0) += 1.0;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_with_escapes() {
        let l = parse_labels(r#"code="200",component="apiserver",resource="pods",subresource="eviction",verb="POST""#);
        assert_eq!(l["verb"], "POST");
        assert_eq!(l["subresource"], "eviction");
        let l = parse_labels(r#"a="x\"y",b="""#);
        assert_eq!(l["a"], "x\"y");
        assert_eq!(l["b"], "");
    }
}

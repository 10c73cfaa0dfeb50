//! A real Prometheus per test, and scrape targets whose metrics the test writes.
//!
//! [`Prometheus::start`] runs the pinned Prometheus (`.cache/bin/prometheus`, built by e2e/cluster/build.sh) on a
//! free port of 127.0.0.1, in a directory of its own under `.cache/prometheus/`, scraping the given targets and
//! evaluating the given rule files every second; dropped, it is killed and its directory removed (e2e/run.sh fails
//! if one is still running after the tests). [`MetricsTarget`] serves a text exposition at /metrics that the test
//! sets and clears, so a query can be made to match and then to stop matching.
use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Result;

/// How often Prometheus scrapes its targets and evaluates its rules: tests wait seconds, not minutes.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long a start may take before it is called failed (a cold start on a busy 2-core machine takes a few seconds).
const START_LIMIT: Duration = Duration::from_secs(60);
/// Tries at a free port: another process may take the one found before Prometheus binds it.
const START_TRIES: usize = 3;
/// How long one HTTP request to Prometheus may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// The checkout, without `..` in it: e2e/run.sh finds leaked processes by their data directory's path.
fn repo() -> PathBuf {
    let e2e = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

/// The Prometheus binary: `$PROMETHEUS_BIN`, else `.cache/bin/prometheus`.
pub fn binary() -> PathBuf {
    std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/bin/prometheus"))
}

/// The alert rules drydock ships: config/prometheus/alerts.yaml.
pub fn shipped_rules() -> PathBuf {
    repo().join("config/prometheus/alerts.yaml")
}

/// One series of a query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Its labels, `__name__` included when the query keeps it.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// A label's value; "" when the series does not have it.
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// One rule as Prometheus reports it (GET /api/v1/rules).
#[derive(Clone, Debug)]
pub struct Rule {
    pub group: String,
    /// The alert's name (or the recorded series').
    pub name: String,
    /// "alerting" or "recording".
    pub kind: String,
    /// "ok", "err" (see `last_error`) or "unknown" (not evaluated yet).
    pub health: String,
    pub last_error: String,
    /// An alerting rule's state: "inactive", "pending" or "firing"; "" for a recording rule.
    pub state: String,
    /// Whether Prometheus has evaluated it at least once.
    pub evaluated: bool,
}

/// A running Prometheus; killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    /// Its log, kept after the test: `.cache/logs/prometheus-<pid>-<n>.log`.
    pub log: PathBuf,
}

impl Prometheus {
    /// Starts a Prometheus that scrapes each `(job, "host:port")` target's /metrics and evaluates `rule_files`,
    /// both every [`INTERVAL`]; returns once it is ready to answer queries. Targets named with the same job are
    /// one job.
    pub async fn start(targets: &[(&str, &str)], rule_files: &[PathBuf]) -> Result<Self> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let name = format!("{}-{}", std::process::id(), STARTED.fetch_add(1, Ordering::Relaxed));
        let dir = repo().join(".cache/prometheus").join(&name);
        let logs = repo().join(".cache/logs");
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(&logs)?;
        let config = dir.join("prometheus.yml");
        // JSON is YAML: Prometheus reads it as its configuration file.
        std::fs::write(&config, serde_json::to_vec_pretty(&config_json(targets, rule_files))?)?;
        let log = logs.join(format!("prometheus-{name}.log"));
        let bin = binary();
        if !bin.exists() {
            return Err(format!("{} is missing: run `make cluster-build`", bin.display()).into());
        }
        let mut prometheus = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            log,
        };
        for attempt in 1..=START_TRIES {
            prometheus.addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", prometheus.dir.join("data").display()))
                .arg(format!("--web.listen-address={}", prometheus.addr))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&prometheus.log)?)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
            prometheus.child = Some(child);
            match prometheus.wait_ready().await {
                Ok(()) => return Ok(prometheus),
                Err(e) => {
                    prometheus.stop();
                    let log = std::fs::read_to_string(&prometheus.log).unwrap_or_default();
                    if attempt < START_TRIES && log.contains("address already in use") {
                        continue;
                    }
                    return Err(format!(
                        "Prometheus did not start: {e}; its log ({}):\n{log}",
                        prometheus.log.display()
                    )
                    .into());
                }
            }
        }
        unreachable!("the last try returns")
    }

    /// Polls /-/ready until it answers 200; fails as soon as the process exits.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("it exited ({status})").into());
            }
            if let Ok((200, _)) = get(self.addr, "/-/ready").await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("not ready after {START_LIMIT:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// GETs an HTTP API path (e.g. `/api/v1/rules`) and returns its `data`; an error when Prometheus does not
    /// answer, or answers with anything but `"status": "success"`.
    pub async fn api(&self, path_and_query: &str) -> Result<Value> {
        let (code, body) = get(self.addr, path_and_query).await?;
        let mut answer: Value = serde_json::from_str(&body)
            .map_err(|e| format!("GET {path_and_query}: HTTP {code}, not JSON ({e}): {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("GET {path_and_query}: HTTP {code}: {body}").into());
        }
        Ok(answer["data"].take())
    }

    /// Evaluates `promql` now (an instant query) and returns the series of the result: none when nothing matches.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql))).await?;
        let value = |v: &Value| -> Result<f64> {
            let text = v[1]
                .as_str()
                .ok_or_else(|| format!("a [time, \"value\"] pair, not {v}"))?;
            Ok(text.parse().map_err(|e| format!("value {text}: {e}"))?)
        };
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let labels = serde_json::from_value(s["metric"].clone())?;
                    Ok(Sample {
                        labels,
                        value: value(&s["value"])?,
                    })
                })
                .collect(),
            Some("scalar") => Ok(vec![Sample {
                labels: BTreeMap::new(),
                value: value(&data["result"])?,
            }]),
            _ => Err(format!("{promql}: an instant vector or a scalar was expected, got {data}").into()),
        }
    }

    /// Queries `promql` every 200 ms until `check` accepts the result, and returns that result; panics after
    /// `limit`, naming the query and its last result (or error).
    pub async fn wait_until(&self, promql: &str, limit: Duration, check: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = self.query(promql).await;
            if let Ok(series) = &last
                && check(series)
            {
                return series.clone();
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out after {limit:?} waiting for `{promql}` to answer as expected; last answer: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until Prometheus has scraped `instance` ("host:port", as given to [`Prometheus::start`]) successfully.
    pub async fn wait_scraped(&self, instance: &str) {
        self.wait_until(
            &format!("up{{instance={}}} == 1", json!(instance)),
            Duration::from_secs(30),
            |s| !s.is_empty(),
        )
        .await;
    }

    /// The metric names `promql` selects, as Prometheus's own parser reads it (`/api/v1/parse_query`): every
    /// vector and range selector's name, functions and keywords aside. An error when it does not parse, or when
    /// a selector names no metric (`{__name__=~"..."}`: nothing to check it against).
    pub async fn selected_metrics(&self, promql: &str) -> Result<std::collections::BTreeSet<String>> {
        fn walk(node: &Value, names: &mut std::collections::BTreeSet<String>) -> std::result::Result<(), String> {
            match node {
                Value::Object(map) => {
                    if matches!(
                        map.get("type").and_then(Value::as_str),
                        Some("vectorSelector" | "matrixSelector")
                    ) {
                        let by_matcher = map
                            .get("matchers")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .find(|m| m["name"] == "__name__" && m["type"] == "=");
                        let name = match map.get("name").and_then(Value::as_str) {
                            Some(n) if !n.is_empty() => n,
                            _ => by_matcher
                                .and_then(|m| m["value"].as_str())
                                .ok_or(format!("a selector without a metric name: {node}"))?,
                        };
                        names.insert(name.to_string());
                    }
                    map.values().try_for_each(|v| walk(v, names))
                }
                Value::Array(items) => items.iter().try_for_each(|v| walk(v, names)),
                _ => Ok(()),
            }
        }
        let ast = self
            .api(&format!("/api/v1/parse_query?query={}", encode(promql)))
            .await?;
        let mut names = std::collections::BTreeSet::new();
        walk(&ast, &mut names).map_err(|e| format!("{promql}: {e}"))?;
        Ok(names)
    }

    /// Every rule of every group, as Prometheus evaluates them.
    pub async fn rules(&self) -> Result<Vec<Rule>> {
        let data = self.api("/api/v1/rules").await?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut rules = Vec::new();
        for group in data["groups"].as_array().into_iter().flatten() {
            for r in group["rules"].as_array().into_iter().flatten() {
                rules.push(Rule {
                    group: text(&group["name"]),
                    name: text(&r["name"]),
                    kind: text(&r["type"]),
                    health: text(&r["health"]),
                    last_error: text(&r["lastError"]),
                    state: text(&r["state"]),
                    // Before the first evaluation the time is Go's zero time, year 1.
                    evaluated: r["lastEvaluation"].as_str().is_some_and(|t| !t.starts_with("0001-")),
                });
            }
        }
        Ok(rules)
    }

    /// Kills the process (nothing answers at [`Prometheus::url`] any more); its directory stays until drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The configuration: every target's job, scrape and rule evaluation every [`INTERVAL`].
fn config_json(targets: &[(&str, &str)], rule_files: &[PathBuf]) -> Value {
    let mut jobs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (job, target) in targets {
        jobs.entry(job).or_default().push(target);
    }
    let interval = format!("{}s", INTERVAL.as_secs());
    json!({
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": rule_files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "scrape_configs": jobs.iter().map(|(job, targets)| json!({
            "job_name": job,
            "static_configs": [{"targets": targets}]
        })).collect::<Vec<_>>()
    })
}

/// A free port on 127.0.0.1 (the kernel's choice; free when asked, which is why a start may try again).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Percent-encodes a query parameter's value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One HTTP/1.0 GET (the server closes the connection after the whole body, so no chunked encoding to undo):
/// the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(REQUEST_LIMIT, exchange)
        .await
        .map_err(|_| format!("GET http://{addr}{path}: no answer within {REQUEST_LIMIT:?}"))?
        .map_err(|e| format!("GET http://{addr}{path}: {e}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET http://{addr}{path}: not an HTTP response: {response}"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("GET http://{addr}{path}: no status code in {head}"))?;
    Ok((code, body.to_string()))
}

/// A scrape target on 127.0.0.1 serving, at /metrics, whatever the test last [`set`](MetricsTarget::set): the
/// Prometheus text format, one sample a line. It answers on a thread of its own, so it keeps answering while the
/// test blocks; stopped on drop.
pub struct MetricsTarget {
    addr: SocketAddr,
    exposition: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsTarget {
    /// Starts it, serving nothing yet (a scrape succeeds and finds no series).
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a metrics target");
        let addr = listener.local_addr().expect("metrics target address");
        let exposition = Arc::new(Mutex::new(String::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (exposition, stop) = (exposition.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        let body = exposition.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        // A scraper that goes away mid-request only costs its own scrape.
                        let _ = answer(stream, &body);
                    }
                }
            })
        };
        Self {
            addr,
            exposition,
            stop,
            thread: Some(thread),
        }
    }

    /// Where it listens, "127.0.0.1:port": the target to give [`Prometheus::start`], and its `instance` label.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Serves `exposition` from now on, e.g. `drydock_test_unhealthy{node="kwok-1"} 1` (lines of
    /// `name{labels} value`, `# TYPE` lines allowed), in place of what was served before.
    pub fn set(&self, exposition: &str) {
        let mut text = exposition.trim_end().to_string();
        text.push('\n');
        *self.exposition.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }

    /// Serves no series from now on: Prometheus marks the ones it had stale at its next scrape, so queries stop
    /// returning them.
    pub fn clear(&self) {
        self.exposition.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Drop for MetricsTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request's head and answers it: the exposition at GET /metrics, 404 elsewhere.
fn answer(mut stream: TcpStream, exposition: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request = String::from_utf8_lossy(&head);
    let mut words = request.split_whitespace();
    let found = words.next() == Some("GET")
        && words
            .next()
            .is_some_and(|p| p == "/metrics" || p.starts_with("/metrics?"));
    let (status, body) = if found {
        ("200 OK", exposition)
    } else {
        ("404 Not Found", "only /metrics is served here\n")
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("up{job=\"a b\"} == 1"), "up%7Bjob%3D%22a%20b%22%7D%20%3D%3D%201");
        assert_eq!(encode("rate(x_total[1m])"), "rate%28x_total%5B1m%5D%29");
    }

    #[test]
    fn targets_of_one_job_are_scraped_as_one() {
        let config = config_json(
            &[
                ("drydock", "127.0.0.1:1"),
                ("drydock", "127.0.0.1:2"),
                ("t", "127.0.0.1:3"),
            ],
            &[],
        );
        assert_eq!(
            config["scrape_configs"],
            json!([
                {"job_name": "drydock", "static_configs": [{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]},
                {"job_name": "t", "static_configs": [{"targets": ["127.0.0.1:3"]}]}
            ])
        );
        assert_eq!(config["global"]["scrape_interval"], "1s");
        assert_eq!(config["global"]["evaluation_interval"], "1s");
    }
}

//! Asks a Prometheus whether health gates hold: one instant query per gate over Prometheus' HTTP API. Where that
//! Prometheus lives is the operator's configuration (`drydock run --prometheus-url`), never a field of a
//! maintenance object, so nobody who can write a NodeMaintenance can make drydock send requests elsewhere.
use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use crate::{
    outbound::{self, HttpClient},
    plan::gates::Answer,
};

/// How long one query may take before the gate counts as "cannot check".
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer drydock reads: a gate's series are a handful; a query that matches the whole TSDB is
/// refused rather than read.
const MAX_ANSWER: usize = 4 << 20;

#[derive(Clone)]
pub struct Prometheus {
    http: HttpClient,
    query_url: url::Url,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("query_url", &self.query_url.as_str())
            .finish()
    }
}

/// The body of Prometheus' /api/v1/query answer, successful or not.
#[derive(Deserialize)]
struct Reply {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    #[serde(default)]
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
}

impl Prometheus {
    /// `base`: Prometheus' URL, e.g. http://prometheus.monitoring:9090 (a path prefix is kept).
    pub fn new(base: &str) -> Result<Self, String> {
        let mut url = url::Url::parse(base).map_err(|e| format!("--prometheus-url {base:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--prometheus-url {base:?} must be an http:// or https:// URL"));
        }
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let query_url = url.join("api/v1/query").map_err(|e| e.to_string())?;
        Ok(Prometheus {
            http: outbound::client(),
            query_url,
        })
    }

    /// The series `promql` returns now, each as `name{label="value",...}`, or why there is no answer.
    pub async fn series(&self, promql: &str) -> Answer {
        let mut url = self.query_url.clone();
        url.query_pairs_mut().append_pair("query", promql);
        let request = Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("drydock/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let unreachable = |why: String| format!("Prometheus at {} did not answer: {why}", self.query_url);
        let response = match tokio::time::timeout(QUERY_TIMEOUT, self.http.request(request)).await {
            Err(_) => return Err(unreachable(format!("no answer within {QUERY_TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(unreachable(outbound::error_chain(&e))),
            Ok(Ok(r)) => r,
        };
        let code = response.status();
        let body = tokio::time::timeout(QUERY_TIMEOUT, Limited::new(response.into_body(), MAX_ANSWER).collect())
            .await
            .map_err(|_| unreachable(format!("the answer took longer than {QUERY_TIMEOUT:?}")))?
            .map_err(|e| format!("Prometheus' answer (HTTP {code}) could not be read: {e}"))?
            .to_bytes();
        let body: Reply = serde_json::from_slice(&body)
            .map_err(|e| format!("Prometheus answered HTTP {code} without a query result: {e}"))?;
        if body.status != "success" {
            return Err(format!(
                "Prometheus refused the query {promql:?} (HTTP {code}): {}",
                body.error.unwrap_or_default()
            ));
        }
        let data = body.data.ok_or("Prometheus answered without data")?;
        match data.result_type.as_str() {
            "vector" | "matrix" => {
                let series: Vec<Series> = serde_json::from_value(data.result).map_err(|e| e.to_string())?;
                Ok(series.into_iter().map(|s| label_set(s.metric)).collect())
            }
            other => Err(format!(
                "the query {promql:?} returns a {other}: a gate needs series (an instant vector), e.g. ALERTS{{alertstate=\"firing\"}}"
            )),
        }
    }
}

/// A series as PromQL writes it: `up{job="x"}`.
fn label_set(mut metric: BTreeMap<String, String>) -> String {
    let name = metric.remove("__name__").unwrap_or_default();
    let labels: Vec<String> = metric.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_reads_as_promql_writes_it() {
        let metric = BTreeMap::from([
            ("__name__".to_string(), "ALERTS".to_string()),
            ("alertname".to_string(), "NodeDown".to_string()),
            ("node".to_string(), "kwok-1".to_string()),
        ]);
        assert_eq!(label_set(metric), r#"ALERTS{alertname="NodeDown",node="kwok-1"}"#);
    }

    #[test]
    fn only_http_urls_are_accepted_and_a_path_prefix_is_kept() {
        assert!(Prometheus::new("ftp://x").is_err());
        assert!(Prometheus::new("not a url").is_err());
        let p = Prometheus::new("http://prom.monitoring:9090/prometheus").expect("valid");
        assert_eq!(
            p.query_url.as_str(),
            "http://prom.monitoring:9090/prometheus/api/v1/query"
        );
    }
}

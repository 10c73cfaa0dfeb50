//! Requests drydock sends outside the API server: one HTTP(S) client, built once. Only the operator's own
//! configuration (the notification receivers of `drydock run --notify-secret`) chooses where they go.
//!
//! TLS is rustls on the `ring` provider with the system's CA certificates, as kube's own client; a machine
//! without any still gets a client (plain http works; https then fails, and says why, at each request).
use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tracing::warn;

/// How long a connection may take to open; the whole request has its own bound, set by its caller.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for http and https URLs (HTTP/1.1), with the system's trusted roots.
pub fn client() -> HttpClient {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "no system CA certificates: https receivers will fail, http ones work");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// An error of the client and its causes, one after the other, so "connection refused" reaches a message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

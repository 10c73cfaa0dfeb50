//! An API server that stops answering, without touching the shared one: a TCP relay to it that can "go dark".
//! Dark, it keeps every connection open and accepts new ones, but passes nothing on, so requests hang as they
//! do when a network path dies (no refusal, no reset: only timeouts notice).
use std::{net::SocketAddr, path::PathBuf};

use kube::config::Kubeconfig;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A relay on 127.0.0.1 to the test cluster's API server; stops with the test.
pub struct Relay {
    pub addr: SocketAddr,
    dark: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Relays to `upstream` (host:port), passing traffic on until [`Relay::go_dark`].
    pub async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let (dark, dark_rx) = watch::channel(false);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut dark = dark_rx.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if *dark.borrow() {
                        return silent(client).await;
                    }
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let went_dark = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        _ = dark.wait_for(|d| *d) => true,
                    };
                    if went_dark {
                        silent((client, server)).await;
                    }
                });
            }
        });
        Relay { addr, dark, accept }
    }

    /// From now on nothing gets through, in either direction, on old connections or new.
    pub fn go_dark(&self) {
        self.dark.send_replace(true);
    }

    /// A copy of `kubeconfig` whose server is this relay (written next to it as `<stem>-relay-<port>.json`;
    /// JSON is YAML, which kubeconfig readers take).
    pub fn kubeconfig(&self, kubeconfig: &std::path::Path) -> PathBuf {
        let mut config = Kubeconfig::read_from(kubeconfig).expect("read the kubeconfig");
        for cluster in &mut config.clusters {
            if let Some(c) = cluster.cluster.as_mut() {
                c.server = Some(format!("https://{}", self.addr));
            }
        }
        let stem = kubeconfig.file_stem().and_then(|s| s.to_str()).unwrap_or("kubeconfig");
        let path = kubeconfig.with_file_name(format!("{stem}-relay-{}.json", self.addr.port()));
        std::fs::write(&path, serde_json::to_vec(&config).expect("kubeconfig json")).expect("write the kubeconfig");
        path
    }

    /// host:port of the API server a kubeconfig names.
    pub fn upstream_of(kubeconfig: &std::path::Path) -> String {
        let config = Kubeconfig::read_from(kubeconfig).expect("read the kubeconfig");
        let server = config
            .clusters
            .iter()
            .find_map(|c| c.cluster.as_ref()?.server.clone())
            .expect("a server in the kubeconfig");
        let rest = server.strip_prefix("https://").unwrap_or(&server);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}

/// Keeps a connection open and says nothing, until the test's runtime ends.
async fn silent<T>(held: T) {
    let _held = held;
    std::future::pending::<()>().await;
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

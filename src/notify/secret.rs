//! The receivers' Secret, watched (a watch on that one name, which RBAC's resourceNames can grant): each
//! version replaces the receivers. A Secret that is missing or wrong is reported (log, `drydock_notify_config_valid`
//! 0) and never stops drydock; a wrong one keeps the receivers of the last good one.
use std::{collections::BTreeMap, sync::Arc};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client,
    runtime::{WatchStreamExt, watcher},
};
use tracing::{error, info, warn};

use super::{Notifier, config};
use crate::telemetry::metrics::Metrics;

/// The Secret's namespace and name, from `namespace/name`.
pub fn parse_name(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => Ok((ns.into(), name.into())),
        _ => Err(format!("{text:?} is not <namespace>/<name>")),
    }
}

/// Follows the Secret `namespace/name` until the stream ends (the caller bounds it by the shutdown). `loaded`
/// fires once the first version is applied, or the first attempt to read it failed.
pub async fn watch(
    client: Client,
    namespace: String,
    name: String,
    notifier: Notifier,
    metrics: Arc<Metrics>,
    loaded: tokio::sync::oneshot::Sender<()>,
) {
    let mut loaded = Some(loaded);
    let mut fire = || {
        if let Some(tx) = loaded.take() {
            let _ = tx.send(());
        }
    };
    let api = Api::<Secret>::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut initial: Option<Secret> = None;
    let mut events = watcher(api, config).default_backoff().boxed();
    let what = format!("{namespace}/{name}");
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => initial = None,
            Ok(watcher::Event::InitApply(s)) => initial = Some(s),
            Ok(watcher::Event::InitDone) => {
                load(&what, initial.take(), &notifier, &metrics);
                fire();
            }
            Ok(watcher::Event::Apply(s)) => load(&what, Some(s), &notifier, &metrics),
            Ok(watcher::Event::Delete(_)) => load(&what, None, &notifier, &metrics),
            Err(e) => {
                warn!(secret = %what, error = %e, "cannot watch the notification receivers' Secret (retrying)");
                metrics.set_notify_config(false, notifier.receivers());
                fire();
            }
        }
    }
}

/// Applies one version of the Secret (None: there is none).
pub fn load(what: &str, secret: Option<Secret>, notifier: &Notifier, metrics: &Metrics) {
    let Some(secret) = secret else {
        warn!(secret = %what, "the notification receivers' Secret does not exist: no notifications are sent");
        notifier.configure(Vec::new());
        metrics.set_notify_config(false, 0);
        return;
    };
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    match config::parse(&data) {
        Ok(receivers) => {
            let names: Vec<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
            info!(secret = %what, receivers = ?names, "notification receivers configured");
            metrics.set_notify_config(true, receivers.len());
            notifier.configure(receivers);
        }
        Err(e) => {
            let kept = notifier.receivers();
            error!(
                secret = %what,
                error = %e,
                kept,
                "invalid notification receivers' Secret: fix it; until then the last valid receivers stay"
            );
            metrics.set_notify_config(false, kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_named_namespace_slash_name() {
        assert_eq!(
            parse_name("drydock-system/notify"),
            Ok(("drydock-system".into(), "notify".into()))
        );
        for bad in ["notify", "/notify", "ns/", "a/b/c", ""] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }
}

//! One drain by godrain (`e2e/godrain`): the Go helper k8s.io/kubectl/pkg/drain that medik8s's
//! node-maintenance-operator, kured and Cluster API drain with, set as medik8s sets it, at controller-runtime's
//! default client limits or with none, a failed drain run again after 5 s as medik8s's operator requeues it. It runs
//! as its own ServiceAccount, so the audit log counts its requests.
use super::{Ctx, DrainRun, Layout, rival};
use crate::bench::Result;

/// The identity (ServiceAccount in drydock-bench) godrain runs as.
pub const IDENTITY: &str = "godrain";
/// The pause before a failed drain is run again: medik8s's node-maintenance-operator requeues a NodeMaintenance
/// whose drain failed after 5 s (waitDurationOnDrainError). The helper gives up on a pod at the first error
/// other than a 429, such as a 409 on its PDB when many evictions update it at once.
const RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// godrain's client limits for each of its drainer names: `--qps 20 --burst 30` is controller-runtime's default
/// client, a negative QPS turns client-go's rate limiter off.
fn limits(drainer: &str) -> Option<&'static [&'static str]> {
    match drainer {
        "go-drain-qps20" => Some(&["--qps", "20", "--burst", "30"]),
        "go-drain-unthrottled" => Some(&["--qps", "-1"]),
        _ => None,
    }
}

pub(super) async fn drain(ctx: &Ctx<'_>, l: &Layout, pair: usize, drainer: &str) -> Result<DrainRun> {
    let limits = limits(drainer).ok_or_else(|| format!("{drainer} is not a godrain drainer"))?;
    let mut cmd = std::process::Command::new(&ctx.cfg.godrain);
    cmd.arg("--kubeconfig")
        .arg(ctx.ids.path(IDENTITY))
        .args([
            "--node",
            &l.kc,
            "--timeout",
            "40m",
            "--retry",
            &format!("{}s", RETRY.as_secs()),
        ])
        .args(limits);
    rival::drain(ctx, l, pair, drainer, IDENTITY, cmd).await
}

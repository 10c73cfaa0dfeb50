//! One drain by `kubectl drain`, as an admin runs it, with the flags that let the same pods leave as drydock's.
use super::{Ctx, DrainRun, Layout, rival};
use crate::bench::{Config, Result, infra::Identities};

/// kubectl's own credentials and discovery cache.
pub(super) fn common(cfg: &Config, ids: &Identities) -> Vec<String> {
    vec![
        "--kubeconfig".into(),
        ids.path("kubectl").display().to_string(),
        "--cache-dir".into(),
        cfg.repo.join(".cache/bench/kubectl-cache").display().to_string(),
    ]
}

pub(super) async fn drain(ctx: &Ctx<'_>, l: &Layout, pair: usize) -> Result<DrainRun> {
    let mut cmd = std::process::Command::new(&ctx.cfg.kubectl);
    cmd.args(common(ctx.cfg, ctx.ids)).args([
        "drain",
        &l.kc,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=40m",
    ]);
    rival::drain(ctx, l, pair, "kubectl", "kubectl", cmd).await
}

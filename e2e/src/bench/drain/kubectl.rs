//! One drain by `kubectl drain`, as an admin runs it, with the flags that let the same pods leave as drydock's.
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{
    Ctx, DrainRun, Layout,
    measure::{Own, Seen, new_run, watch_node},
    setup::{Where, wait_settled},
};
use crate::bench::{
    Config, Mark, Result,
    apiserver::{AuditMark, RequestTotals},
    infra::{self, Identities},
    progress,
};

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
    let env = ctx.env;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let notify = Arc::new(Notify::new());
    let watches = watch_node(&env.client, &l.kc, seen.clone(), notify).await?;
    let log = ctx
        .cfg
        .repo
        .join(format!(".cache/logs/bench-kubectl-n{}-p{pair}.log", l.size));
    let mut cmd = std::process::Command::new(&ctx.cfg.kubectl);
    cmd.args(common(ctx.cfg, ctx.ids))
        .args([
            "drain",
            &l.kc,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=40m",
        ])
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err.log"))?);

    let before = RequestTotals::scrape(&env.client).await?;
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let t0 = Mark::now();
    let status = tokio::task::spawn_blocking(move || cmd.status()).await??;
    let t1 = Mark::now();
    let after = RequestTotals::scrape(&env.client).await?;
    drop(watches);
    let mut run = new_run("kubectl", l.size, pair, &t0, &t1, &seen, after.since(&before));
    Own::read(ctx.cfg, &audit, "kubectl", &t0, &t1).fill(&t0, &mut run);
    if !status.success() {
        let err = std::fs::read_to_string(log.with_extension("err.log")).unwrap_or_default();
        let last: Vec<&str> = err.lines().rev().take(3).collect();
        let note = format!("kubectl drain failed ({status}): {}", last.join(" / "));
        progress(format!("drain: {note}"));
        run.completed = false;
        run.note = Some(note);
    }

    infra::set_cordon(&env.client, &l.kc, false).await?;
    wait_settled(
        ctx,
        l,
        if run.completed {
            Where::NotOn(&l.kc)
        } else {
            Where::Anywhere
        },
    )
    .await?;
    Ok(run)
}

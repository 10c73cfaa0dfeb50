//! One drain of the rival node by a drainer process, `kubectl drain` or godrain alike: timed from its start to its
//! exit, its own requests read from the audit log; then the node is uncordoned and the cluster left to settle, so
//! nothing of this drain's aftermath falls into the next one's window.
use std::{
    process::Command,
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use super::{
    Ctx, DrainRun, Layout,
    measure::{Own, Seen, new_run, watch_node},
    setup::{Where, wait_settled},
};
use crate::bench::{
    Mark, Result,
    apiserver::{AuditMark, RequestTotals},
    infra, progress,
};

/// The most of a failed drainer's last lines that go into its note.
const NOTE_MAX: usize = 400;

/// Runs `cmd`, which drains the rival node as ServiceAccount `identity` (whose requests the audit log shows), and
/// records it as drainer `drainer`. Its output goes to .cache/logs/bench-<drainer>-n<N>-p<pair>.log and .err.log.
pub(super) async fn drain(
    ctx: &Ctx<'_>,
    l: &Layout,
    pair: usize,
    drainer: &str,
    identity: &str,
    mut cmd: Command,
) -> Result<DrainRun> {
    let env = ctx.env;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let notify = Arc::new(Notify::new());
    let watches = watch_node(&env.client, &l.kc, seen.clone(), notify).await?;
    let log = ctx
        .cfg
        .repo
        .join(format!(".cache/logs/bench-{drainer}-n{}-p{pair}.log", l.size));
    cmd.stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err.log"))?);

    let before = RequestTotals::scrape(&env.client).await?;
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let t0 = Mark::now();
    let status = tokio::task::spawn_blocking(move || cmd.status()).await??;
    let t1 = Mark::now();
    let after = RequestTotals::scrape(&env.client).await?;
    drop(watches);
    let mut run = new_run(drainer, l.size, pair, &t0, &t1, &seen, after.since(&before));
    Own::read(ctx.cfg, &audit, identity, &t0, &t1).fill(&t0, &mut run);
    if !status.success() {
        let err = std::fs::read_to_string(log.with_extension("err.log")).unwrap_or_default();
        let last: Vec<&str> = err.lines().rev().take(3).collect();
        let mut last = last.join(" / ");
        // An error per pod can make a line of megabytes.
        if let Some((cut, _)) = last.char_indices().nth(NOTE_MAX) {
            last.truncate(cut);
            last.push_str(&format!("… (all of it in {})", log.with_extension("err.log").display()));
        }
        let note = format!("{drainer} failed ({status}): {last}");
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

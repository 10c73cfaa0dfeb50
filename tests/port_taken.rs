//! `drydock run` whose HTTP address another process holds: it fails at once, and its message names the
//! address and the flag that changes it (not the kubeconfig, which is fine). Runs the real binary; no cluster
//! is contacted, the port is refused first.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn a_taken_http_port_is_named_with_the_flag_that_changes_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let addr = taken.local_addr().expect("its address").to_string();
    // A valid kubeconfig whose server is never contacted.
    let dir = std::env::temp_dir().join(format!("drydock-port-taken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:9\"}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n\
         current-context: c\n",
    )
    .expect("write kubeconfig");

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(["run", "--leader-elect=false", "--http-addr", &addr])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("DRYDOCK_HTTP_ADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drydock");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("drydock run still running 10 s after start with its port taken");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    let _ = std::fs::remove_dir_all(&dir);

    assert!(!status.success(), "exit status {status}; stderr:\n{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let message = stderr
        .lines()
        .find(|l| l.starts_with("drydock: "))
        .unwrap_or_else(|| panic!("no `drydock: ...` line on stderr:\n{stderr}"));
    assert!(
        message.contains(&addr) && message.contains("--http-addr"),
        "names the address and the flag: {message}"
    );
    assert!(
        !message.contains("KUBECONFIG") && !message.contains("client configuration"),
        "does not blame the kubeconfig: {message}"
    );
    drop(taken);
}

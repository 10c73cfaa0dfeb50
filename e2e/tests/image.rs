//! The image `make image` builds (image/build.sh: $CARGO_TARGET_DIR/image/drydock.oci.tar) is what a cluster
//! would run: its config says non-root, its only files are the static binary and the CA bundle, and that binary,
//! run inside the image's own filesystem as the image's user with config/rbac's ServiceAccount, carries a
//! maintenance through to Completed. Skipped, saying so, when the archive was not built (`make e2e` and
//! `make test` build it first).
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use drydock::api::v1alpha1::Phase;
use drydock_e2e::{
    TestEnv,
    audit::Expect,
    controller::{Drydock, controller_kubeconfig, drydock_annotations, free_port, taints, unschedulable},
};
use serde_json::{Value, json};

/// The user the image declares, as the Dockerfile and config/manager's Deployment run it.
const IMAGE_USER: &str = "65532:65532";

/// `$DRYDOCK_IMAGE`, else where image/build.sh saves the archive.
fn archive() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("DRYDOCK_IMAGE").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
        target.join("image/drydock.oci.tar")
    })
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image in an OCI layout: its config, and its root filesystem with every layer applied.
struct Image {
    config: Value,
    rootfs: PathBuf,
}

/// Unpacks the OCI archive into `dir` as a runtime would: index -> manifest -> config and layers in order.
fn unpack(archive: &Path, dir: &Path) -> Image {
    let _ = std::fs::remove_dir_all(dir);
    let layout = dir.join("layout");
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&layout).expect("layout dir");
    std::fs::create_dir_all(&rootfs).expect("rootfs dir");
    run(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(&layout));
    let blob = |digest: &Value| -> PathBuf {
        let digest = digest.as_str().expect("a digest");
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        layout.join("blobs/sha256").join(hex)
    };
    let json = |path: PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
            .expect("JSON")
    };
    let index = json(layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index.json lists manifests");
    assert_eq!(manifests.len(), 1, "one image in the archive: {index}");
    let manifest = json(blob(&manifests[0]["digest"]));
    let config = json(blob(&manifest["config"]["digest"]));
    // GNU tar detects the layer's compression itself.
    for layer in manifest["layers"].as_array().expect("layers") {
        run(Command::new("tar")
            .arg("-xf")
            .arg(blob(&layer["digest"]))
            .arg("-C")
            .arg(&rootfs));
    }
    Image { config, rootfs }
}

/// Every path under `root`, relative, directories ending in `/`.
fn tree(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            let rel = path.strip_prefix(root).expect("under root").display().to_string();
            if path.is_dir() && !path.is_symlink() {
                found.insert(format!("{rel}/"));
                todo.push(path);
            } else {
                found.insert(rel);
            }
        }
    }
    found
}

/// Whether an ELF executable asks for a dynamic loader (a PT_INTERP program header): a static one does not.
fn wants_a_loader(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
    assert_eq!(elf[4], 2, "64-bit ELF");
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([elf[at], elf[at + 1]]));
    let phoff = usize::try_from(u64::from_le_bytes(elf[0x20..0x28].try_into().expect("8 bytes"))).expect("offset");
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).any(|i| {
        let at = phoff + i * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == PT_INTERP
    })
}

#[tokio::test]
async fn the_image_runs_as_non_root_with_only_its_binary_and_completes_a_maintenance() {
    let archive = archive();
    if !archive.exists() {
        eprintln!(
            "SKIPPED e2e/tests/image.rs: no image archive at {} (build it with `make image`; needs buildah, musl-tools \
             and the x86_64-unknown-linux-musl Rust target, which .ci/run installs)",
            archive.display()
        );
        return;
    }
    let mut env = TestEnv::new("image").await;
    let dir = std::env::temp_dir().join(format!("drydock-image-{}", env.id));
    let image = unpack(&archive, &dir);

    // The config a runtime reads (what `buildah inspect` shows as OCIv1.Config).
    let config = &image.config["config"];
    assert_eq!(config["User"], IMAGE_USER, "non-root: {config}");
    assert_eq!(config["Entrypoint"], json!(["/drydock"]));
    assert_eq!(config["Cmd"], json!(["run"]));
    assert_eq!(image.config["os"], "linux");
    assert_eq!(image.config["architecture"], "amd64");

    // Nothing but the binary and the CA bundle (and the directories that hold it).
    let expected: BTreeSet<String> = [
        "drydock",
        "etc/",
        "etc/ssl/",
        "etc/ssl/certs/",
        "etc/ssl/certs/ca-certificates.crt",
    ]
    .map(String::from)
    .into();
    assert_eq!(tree(&image.rootfs), expected);
    let binary = std::fs::read(image.rootfs.join("drydock")).expect("read /drydock");
    assert!(
        !wants_a_loader(&binary),
        "/drydock is static: the image has no loader or libc"
    );
    let bundle = std::fs::read_to_string(image.rootfs.join("etc/ssl/certs/ca-certificates.crt")).expect("CA bundle");
    assert!(
        bundle.matches("-----BEGIN CERTIFICATE-----").count() > 50,
        "the system roots, as Debian's ca-certificates ships them"
    );

    // Run it inside the image's filesystem, as the image's user, with no environment but a kubeconfig: what a
    // container runtime gives it, less the namespaces. The kubeconfig (config/rbac's ServiceAccount) and the
    // cluster's CA go in beside it, as a pod gets its token mounted.
    let kube = image.rootfs.join("kube");
    std::fs::create_dir_all(&kube).expect("kube dir");
    let text = std::fs::read_to_string(controller_kubeconfig()).expect("controller kubeconfig");
    let mut kubeconfig: Value = serde_yaml_ng::from_str(&text).expect("kubeconfig YAML");
    let cluster = &mut kubeconfig["clusters"][0]["cluster"];
    let ca = cluster["certificate-authority"]
        .as_str()
        .expect("a CA file")
        .to_string();
    std::fs::copy(&ca, kube.join("ca.crt")).expect("copy the cluster CA");
    cluster["certificate-authority"] = json!("/kube/ca.crt");
    std::fs::write(kube.join("config"), serde_json::to_string(&kubeconfig).expect("JSON")).expect("write kubeconfig");

    let a = env.web_on_a(2, Some(1)).await;
    env.expect_audit(Expect::restored(&a, 2));
    // Found on this PATH: the command's own environment is emptied, PATH included.
    let chroot = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chroot"))
        .find(|path| path.is_file())
        .expect("chroot (coreutils) on PATH");
    let mut chroot = Command::new(chroot);
    chroot
        .arg(format!("--userspec={IMAGE_USER}"))
        .arg(&image.rootfs)
        .arg("/drydock")
        .env_clear()
        .env("KUBECONFIG", "/kube/config");
    let http = format!("127.0.0.1:{}", free_port());
    let mut drydock = Drydock::spawn(chroot, &env.id, 0, http, &["--leader-elect=false"]);

    env.maintenance("image", &a, json!({})).await;
    let nm = env.wait_nm("image", Phase::Drained, |_| true).await;
    assert_eq!(nm.status.and_then(|s| s.pods).map(|p| p.evicted), Some(2));
    // The kernel's word for who it runs as: real, effective, saved and filesystem ids, user and group.
    let status = std::fs::read_to_string(format!("/proc/{}/status", drydock.pid())).expect("its /proc status");
    for field in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(ids, ["65532"; 4], "{field} of the running /drydock");
    }
    assert_eq!(drydock.get("/healthz").map(|(code, _)| code), Some(200));

    // Close the window now: the node is given back and the maintenance is over.
    let now = jiff::Timestamp::now().to_string();
    env.patch_nm("image", json!({"window": {"end": now}})).await;
    env.wait_nm("image", Phase::Completed, |_| true).await;
    let node = env.get_node(&a).await;
    assert!(!unschedulable(&node), "uncordoned");
    assert_eq!(taints(&node), Vec::<String>::new(), "drydock's taint removed");
    assert_eq!(drydock_annotations(&node), Vec::<String>::new());
    env.delete_nm("image").await;
    assert!(drydock.alive(), "still running");
    let log = drydock.log_text();
    assert!(!log.contains("forbidden"), "no request was forbidden:\n{log}");
    drop(drydock);
    let _ = std::fs::remove_dir_all(&dir);
}

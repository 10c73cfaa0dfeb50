//! The Dockerfile (for builders with a registry) and image/Containerfile (`make image`, built here without
//! pulling) must make the same image: their final stages agree instruction for instruction, COPY sources aside
//! (one copies from the build stage, the other from image/build.sh's context). And config/manager's Deployment
//! runs it as the image's user.
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// The last stage's instructions, continuation lines joined, comments dropped, and each COPY reduced to its
/// destination: `COPY --from=build /src/x /drydock` and `COPY x /drydock` both read `COPY /drydock`.
fn final_stage(text: &str) -> Vec<String> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(&format!("{} ", part.trim())),
            None => {
                pending.push_str(line);
                let joined = std::mem::take(&mut pending)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                if joined.starts_with("FROM ") {
                    instructions.clear();
                }
                instructions.push(joined);
            }
        }
    }
    instructions
        .into_iter()
        .map(|i| match i.strip_prefix("COPY ") {
            Some(rest) => format!("COPY {}", rest.rsplit(' ').next().unwrap_or_default()),
            None => i,
        })
        .collect()
}

#[test]
fn the_dockerfile_and_the_containerfile_make_the_same_image() {
    let docker = final_stage(&read("Dockerfile"));
    let containerfile = final_stage(&read("image/Containerfile"));
    assert_eq!(
        docker, containerfile,
        "the Dockerfile's final stage and image/Containerfile differ: change both"
    );
    for expected in [
        "FROM scratch",
        "COPY /drydock",
        "COPY /etc/ssl/certs/ca-certificates.crt",
        "USER 65532:65532",
        "ENTRYPOINT [\"/drydock\"]",
        "CMD [\"run\"]",
    ] {
        assert!(
            containerfile.iter().any(|i| i == expected),
            "{expected} in {containerfile:#?}"
        );
    }
    // Only image/build.sh's context is copied, never a build stage's.
    let own = read("image/Containerfile");
    assert!(
        !own.lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("--from"))
    );
}

#[test]
fn the_deployment_runs_as_the_images_user() {
    let containerfile = final_stage(&read("image/Containerfile"));
    let user = containerfile
        .iter()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("a USER");
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    let deployment = read("config/manager/deployment.yaml");
    for line in [
        "runAsNonRoot: true",
        &format!("runAsUser: {uid}"),
        &format!("runAsGroup: {gid}"),
    ] {
        assert!(
            deployment.lines().any(|l| l.trim() == line),
            "config/manager/deployment.yaml says `{line}`"
        );
    }
}

#[test]
fn continuation_lines_and_copy_sources_are_normalised() {
    let stage = final_stage(
        "FROM a AS b\nRUN x\nFROM scratch\n# note\nLABEL a=\"1\" \\\n      b=\"2\"\nCOPY --from=b /x/y /y\n",
    );
    assert_eq!(stage, ["FROM scratch", "LABEL a=\"1\" b=\"2\"", "COPY /y"]);
}

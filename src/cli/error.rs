//! The exit codes a script can rely on, and the CLI's error type: every failure is one line on stderr that
//! says what to do, and maps to exactly one exit code.
use thiserror::Error;

/// Exit codes, the one place they are defined (the README's "Runbook CLI" lists them too).
pub mod exit {
    /// Done: the maintenance reached what was asked, or the preview says the drain can finish.
    pub const OK: u8 = 0;
    /// The maintenance failed (or ended without draining), or the API server could not be reached or refused.
    pub const FAILED: u8 = 1;
    /// Wrong usage. clap exits with 2 too, so a typo and a bad value look the same to a script.
    pub const USAGE: u8 = 2;
    /// `preview`: the drain would not finish as things stand.
    pub const WOULD_NOT_FINISH: u8 = 3;
    /// No such NodeMaintenance or node.
    pub const NOT_FOUND: u8 = 4;
    /// `--wait` or `--watch` gave up after `--timeout`.
    pub const TIMED_OUT: u8 = 5;
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error("cannot load a kubeconfig ({0}): set KUBECONFIG, or create ~/.kube/config")]
    Kubeconfig(String),
    #[error("{0}")]
    Usage(String),
    #[error("{what} not found: {hint}")]
    NotFound { what: String, hint: &'static str },
    #[error(
        "not allowed to {action} ({message}): ask for the drydock-maintainer ClusterRole (preview needs \
         drydock-preview too: it reads nodes, pods and PodDisruptionBudgets)"
    )]
    Forbidden { action: String, message: String },
    #[error("the API server refused to create nodemaintenance/{name}: {message}")]
    Refused { name: String, message: String },
    #[error("failed to {action}: {}; check that the API server is reachable (kubectl get --raw /readyz)", crate::error::words(.source))]
    Api { action: String, source: kube::Error },
    #[error(
        "cannot read what the API server returned to {action}: {message}; the object holds a value drydock cannot \
         read (edited by hand?): look at it with kubectl get -o yaml, and fix or delete it"
    )]
    Unreadable { action: String, message: String },
    #[error("the drain of {node} would not finish: {blocking} pod(s) block it, listed above")]
    WouldNotFinish { node: String, blocking: usize },
    #[error("nodemaintenance/{name} failed: {message}; `drydock status {name}` shows the details")]
    Failed { name: String, message: String },
    #[error("nodemaintenance/{name} ended without draining {node}: {why}")]
    NotDrained { name: String, node: String, why: String },
    #[error("{what} after {after}: {hint}")]
    TimedOut { what: String, after: String, hint: String },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::NotFound { .. } => exit::NOT_FOUND,
            CliError::WouldNotFinish { .. } => exit::WOULD_NOT_FINISH,
            CliError::TimedOut { .. } => exit::TIMED_OUT,
            CliError::Kubeconfig(_)
            | CliError::Forbidden { .. }
            | CliError::Refused { .. }
            | CliError::Api { .. }
            | CliError::Unreadable { .. }
            | CliError::Failed { .. }
            | CliError::NotDrained { .. } => exit::FAILED,
        }
    }

    /// An API call that failed: a 403 says which permission is missing, an answer that cannot be decoded names
    /// the object as the problem (not the connection), anything else is passed on with
    /// `action` ("list pods on node-2"). A 404 is the caller's to interpret (use `get_opt` where it means
    /// "not found").
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        match source {
            kube::Error::Api(s) if s.code == 403 => CliError::Forbidden {
                action: action.into(),
                message: s.message,
            },
            kube::Error::SerdeError(e) => CliError::Unreadable {
                action: action.into(),
                message: e.to_string(),
            },
            source => CliError::Api {
                action: action.into(),
                source,
            },
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("nope", "Forbidden").with_code(code).boxed())
    }

    #[test]
    fn exit_codes_are_distinct_and_stable() {
        // Scripts depend on these numbers: changing one is a breaking change.
        assert_eq!(
            [
                exit::OK,
                exit::FAILED,
                exit::USAGE,
                exit::WOULD_NOT_FINISH,
                exit::NOT_FOUND,
                exit::TIMED_OUT
            ],
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn each_error_maps_to_its_exit_code() {
        let cases = [
            (CliError::Usage("x".into()), exit::USAGE),
            (
                CliError::NotFound {
                    what: "node x".into(),
                    hint: "h",
                },
                exit::NOT_FOUND,
            ),
            (
                CliError::WouldNotFinish {
                    node: "n".into(),
                    blocking: 2,
                },
                exit::WOULD_NOT_FINISH,
            ),
            (
                CliError::TimedOut {
                    what: "w".into(),
                    after: "5s".into(),
                    hint: "h".into(),
                },
                exit::TIMED_OUT,
            ),
            (
                CliError::Failed {
                    name: "m".into(),
                    message: "x".into(),
                },
                exit::FAILED,
            ),
            (
                CliError::NotDrained {
                    name: "m".into(),
                    node: "n".into(),
                    why: "w".into(),
                },
                exit::FAILED,
            ),
            (CliError::Kubeconfig("x".into()), exit::FAILED),
            (CliError::api("list pods", status(500)), exit::FAILED),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn forbidden_names_the_role_to_ask_for() {
        let e = CliError::api("create nodemaintenances", status(403));
        assert!(matches!(e, CliError::Forbidden { .. }));
        assert!(
            e.to_string()
                .starts_with("not allowed to create nodemaintenances (nope)")
        );
        assert!(e.to_string().contains("drydock-maintainer"));
        assert_eq!(e.exit_code(), exit::FAILED);
    }

    #[test]
    fn an_answer_that_cannot_be_read_blames_the_object_not_the_connection() {
        let decode = serde_json::from_str::<u8>("300").expect_err("out of range");
        let e = CliError::api("get nodemaintenance/m", kube::Error::SerdeError(decode));
        assert!(matches!(e, CliError::Unreadable { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("get nodemaintenance/m") && text.contains("kubectl get -o yaml"),
            "{text}"
        );
        assert!(!text.contains("reachable"), "{text}");
        assert_eq!(e.exit_code(), exit::FAILED);
    }
}

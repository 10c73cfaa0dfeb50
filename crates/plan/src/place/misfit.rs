//! Why a replacement cannot run somewhere: on one node ([`Misfit`]), or on any ([`Nowhere`]), in the words status
//! and preview print.
use std::fmt;

/// How many nodes a "nowhere to go" line names before it says "and N more".
const NODES_NAMED: usize = 3;

/// Why a replacement cannot run on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misfit {
    NotReady,
    Cordoned,
    /// `key=value:Effect`
    Taint(String),
    /// `key=value` the pod's nodeSelector wants.
    NodeSelector(String),
    NodeAffinity,
    /// The PersistentVolume (by name) a claim of the pod is bound to cannot be reached from there.
    Volume(String),
    /// The pod's own required anti-affinity excludes `ns/name`, which runs there (or in its topology domain).
    Repels(String),
    /// `ns/name`, running there, has required anti-affinity that excludes the pod.
    RepelledBy(String),
}

impl Misfit {
    /// Anti-affinity depends on where the other pods are; every other misfit is a property of the node alone.
    pub fn is_anti_affinity(&self) -> bool {
        matches!(self, Misfit::Repels(_) | Misfit::RepelledBy(_))
    }
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::NotReady => write!(f, "NotReady"),
            Misfit::Cordoned => write!(f, "cordoned"),
            Misfit::Taint(t) => write!(f, "taint {t} not tolerated"),
            Misfit::NodeSelector(l) => write!(f, "no label {l} (nodeSelector)"),
            Misfit::NodeAffinity => write!(f, "required node affinity not met"),
            Misfit::Volume(pv) => write!(f, "PersistentVolume {pv} cannot be reached there"),
            Misfit::Repels(p) => write!(f, "runs {p}, which its hard anti-affinity excludes"),
            Misfit::RepelledBy(p) => write!(f, "runs {p}, whose hard anti-affinity excludes it"),
        }
    }
}

/// Why no node can take a pod's replacement, in the words status and preview print: each says what keeps the
/// pod and, through the nodes named, where to make room.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Nowhere {
    #[error(
        "its replacement cannot run on another node: it uses PersistentVolume {pv}, which no other node can reach \
         (local storage); it would wait Pending until {drained} is back"
    )]
    PinnedByVolume { pv: String, drained: String },
    #[error("its replacement has nowhere to go: there is no other node")]
    NoOtherNode,
    #[error(
        "its replacement has nowhere to go: hard anti-affinity on kubernetes.io/hostname allows one pod of {selector} \
         per node; its {count} pods need {count} nodes besides {drained}, and only {} {} eligible ({})",
        .eligible.len(),
        if .eligible.len() == 1 { "is" } else { "are" },
        .eligible.join(", ")
    )]
    AntiAffinity {
        selector: String,
        count: usize,
        drained: String,
        eligible: Vec<String>,
    },
    #[error("its replacement has nowhere to go ({})", named(.misfits))]
    NoFit { misfits: Vec<(String, Misfit)> },
}

/// The first [`NODES_NAMED`] nodes with why each does not fit, and how many more there are.
fn named(misfits: &[(String, Misfit)]) -> String {
    let named: Vec<String> = misfits
        .iter()
        .take(NODES_NAMED)
        .map(|(n, m)| format!("{n}: {m}"))
        .collect();
    let more = misfits.len().saturating_sub(NODES_NAMED);
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", named.join("; "))
}

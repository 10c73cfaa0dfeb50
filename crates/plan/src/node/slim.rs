//! What drydock keeps of a Node in its cache. Every Node of the cluster is watched (placement reads them all), so
//! each byte kept is paid once per node: a kwok node is about 4 KiB of JSON, a real one with its images list
//! 20 KiB or more. [`slim`] keeps exactly what a decision reads, and the tests prove the decisions see the same
//! node before and after.
use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta};

use drydock_api::names::{AUTOSCALER_SCALE_DOWN_DISABLED, GROUP};

/// The node, stripped to what drydock reads:
/// - metadata: name, uid, resourceVersion, every label (placement and pool selectors), drydock's own annotations
///   and the autoscaler's scale-down one, and of managedFields only who owns `spec.unschedulable` (that is how
///   a cordon someone else made is told apart);
/// - spec: taints and unschedulable;
/// - status: conditions (Ready, and the lifecycle conditions drydock writes) and the four nodeInfo versions
///   plus bootID that `completeWhen` compares.
pub fn slim(node: Node) -> Node {
    let Node { metadata, spec, status } = node;
    let annotations = metadata.annotations.map(|a| {
        a.into_iter()
            .filter(|(k, _)| k.split_once('/').is_some_and(|(p, _)| p == GROUP) || k == AUTOSCALER_SCALE_DOWN_DISABLED)
            .collect()
    });
    let managed_fields = metadata.managed_fields.map(|entries| {
        entries
            .into_iter()
            .filter(|m| {
                m.fields_v1
                    .as_ref()
                    .is_some_and(|f| f.0.pointer(UNSCHEDULABLE).is_some())
            })
            .map(|m| ManagedFieldsEntry {
                manager: m.manager,
                subresource: m.subresource,
                operation: m.operation,
                fields_v1: Some(FieldsV1(serde_json::json!({"f:spec": {"f:unschedulable": {}}}))),
                ..Default::default()
            })
            .collect()
    });
    Node {
        metadata: ObjectMeta {
            name: metadata.name,
            uid: metadata.uid,
            resource_version: metadata.resource_version,
            creation_timestamp: metadata.creation_timestamp,
            deletion_timestamp: metadata.deletion_timestamp,
            labels: metadata.labels,
            annotations,
            managed_fields,
            ..Default::default()
        },
        spec: spec.map(|s| NodeSpec {
            taints: s.taints,
            unschedulable: s.unschedulable,
            ..Default::default()
        }),
        status: status.map(|s| NodeStatus {
            conditions: s.conditions,
            node_info: s.node_info.map(|i| NodeSystemInfo {
                boot_id: i.boot_id,
                kernel_version: i.kernel_version,
                os_image: i.os_image,
                kubelet_version: i.kubelet_version,
                container_runtime_version: i.container_runtime_version,
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// Where `spec.unschedulable` sits in a managedFields entry's fieldsV1.
const UNSCHEDULABLE: &str = "/f:spec/f:unschedulable";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{NodeView, is_ready};
    use crate::place::Room;

    /// A node as a real cluster serves it: images, addresses, capacity, someone's cordon, several managers.
    fn full() -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "worker-7", "uid": "u-7", "resourceVersion": "123",
                "labels": {"kubernetes.io/hostname": "worker-7", "topology.kubernetes.io/zone": "a", "disk": "ssd"},
                "annotations": {
                    "drydock.dev/held-by": "nm-1",
                    "drydock.dev/prior-state": "{\"unschedulable\":false,\"taints\":[]}",
                    "cluster-autoscaler.kubernetes.io/scale-down-disabled": "true",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"a\": \"very long text\"}",
                    "node.alpha.kubernetes.io/ttl": "0",
                    "drydock.dev.example.com/other": "not ours"
                },
                "managedFields": [
                    {"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:images": {}}}},
                    {"manager": "kubectl-cordon", "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:unschedulable": {}, "f:podCIDR": {}}}},
                    {"manager": "drydock", "operation": "Update", "apiVersion": "v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": {}}}}
                ]
            },
            "spec": {
                "unschedulable": true, "podCIDR": "10.0.7.0/24", "providerID": "kwok://worker-7",
                "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "Drained", "status": "False"}],
                "nodeInfo": {
                    "bootID": "b-1", "kernelVersion": "6.1", "osImage": "Debian", "kubeletVersion": "v1.37.2",
                    "containerRuntimeVersion": "containerd://2", "machineID": "m", "systemUUID": "s",
                    "architecture": "amd64", "operatingSystem": "linux", "kubeProxyVersion": ""
                },
                "images": [{"names": ["registry.example/app:1"], "sizeBytes": 1000}],
                "addresses": [{"type": "InternalIP", "address": "10.1.1.7"}],
                "capacity": {"cpu": "8", "pods": "110"},
                "allocatable": {"cpu": "8", "pods": "110"}
            }
        }))
        .expect("a valid Node")
    }

    #[test]
    fn decisions_read_the_same_node() {
        let node = full();
        let kept = slim(node.clone());
        assert_eq!(NodeView::of(&kept), NodeView::of(&node));
        assert_eq!(NodeView::of(&kept).cordoned_by.as_deref(), Some("kubectl-cordon"));
        assert_eq!(is_ready(&kept), is_ready(&node));
        assert_eq!(kept.metadata.labels, node.metadata.labels);
        assert_eq!(
            kept.status.as_ref().and_then(|s| s.conditions.clone()),
            node.status.and_then(|s| s.conditions)
        );
    }

    #[test]
    fn placement_reads_the_same_node() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"containers": [{"name": "c"}], "nodeSelector": {"disk": "ssd"},
                     "tolerations": [{"key": "dedicated", "operator": "Exists"}]}
        }))
        .expect("a valid Pod");
        let mut uncordoned = full();
        uncordoned.spec.as_mut().expect("spec").unschedulable = Some(false);
        for node in [full(), uncordoned] {
            let (a, b) = (vec![node.clone()], vec![slim(node)]);
            let volumes = Default::default();
            let room = |nodes: &[Node]| Room::new("drained", nodes, &[], &volumes).misfit(&pod, &nodes[0]);
            assert_eq!(room(&a), room(&b));
        }
    }

    #[test]
    fn keeps_no_bulk() {
        let kept = slim(full());
        let json = serde_json::to_string(&kept).expect("serializes");
        // Values, not keys: nodeInfo's required fields stay, empty (an empty String allocates nothing).
        for gone in [
            "registry.example",
            "10.1.1.7",
            "capacity",
            "10.0.7.0",
            "kwok://",
            "last-applied",
            "ttl",
            "amd64",
        ] {
            assert!(!json.contains(gone), "{gone} kept: {json}");
        }
        assert!(json.contains("scale-down-disabled") && json.contains("drydock.dev/held-by"));
        assert!(
            !json.contains("\"kubelet\""),
            "a manager that owns no cordon kept: {json}"
        );
        assert!(
            !json.contains("drydock.dev.example.com"),
            "another group's annotation kept: {json}"
        );
    }
}

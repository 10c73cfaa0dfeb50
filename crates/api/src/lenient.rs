//! Objects decoded one at a time. A watch of a custom resource decodes every object of a list page together, so
//! one object drydock cannot read (written under an older, looser CRD, or edited by hand through the status
//! subresource) would fail the whole list and stall every maintenance. [`Lenient`] keeps such an object with
//! what is wrong with it, so the others carry on and the bad one is reported by name.
use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::Resource;
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

/// An object of kind `K` as the API server sent it: decoded, or the reason it could not be.
#[derive(Clone, Debug)]
pub struct Lenient<K> {
    meta: ObjectMeta,
    pub decoded: Result<K, String>,
}

impl<K> Lenient<K> {
    /// The object, if it could be read.
    pub fn ok(&self) -> Option<&K> {
        self.decoded.as_ref().ok()
    }
}

impl<K: Resource> From<K> for Lenient<K> {
    fn from(k: K) -> Self {
        Self {
            meta: k.meta().clone(),
            decoded: Ok(k),
        }
    }
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Lenient<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        // Metadata is the API server's own and always readable; without it the object cannot even be named.
        let meta = ObjectMeta::deserialize(value.get("metadata").cloned().unwrap_or_default())
            .map_err(serde::de::Error::custom)?;
        let decoded = serde_json::from_value(value).map_err(|e| e.to_string());
        Ok(Self { meta, decoded })
    }
}

impl<K: Resource<DynamicType = ()>> Resource for Lenient<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1alpha1::NodeMaintenance;
    use serde_json::json;

    #[test]
    fn a_bad_object_is_kept_with_its_name_and_what_is_wrong() {
        let list: Vec<Lenient<NodeMaintenance>> = serde_json::from_value(json!([
            {"apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
             "metadata": {"name": "good", "uid": "1"}, "spec": {"nodeName": "n1"}},
            {"apiVersion": "drydock.dev/v1alpha1", "kind": "NodeMaintenance",
             "metadata": {"name": "bad", "uid": "2"}, "spec": {"nodeName": "n2"},
             "status": {"pods": {"total": 3_000_000_000u64, "evicted": 0, "remaining": 0, "blocked": 0,
                                 "skipped": 0, "progress": "0/0"}}}
        ]))
        .expect("the list decodes whatever one object holds");
        assert_eq!(list[0].ok().map(|nm| nm.spec.node_name.as_str()), Some("n1"));
        assert_eq!(list[1].meta().name.as_deref(), Some("bad"));
        let why = list[1].decoded.as_ref().expect_err("undecodable");
        assert!(why.contains("3000000000"), "{why}");
        assert_eq!(Lenient::<NodeMaintenance>::plural(&()), "nodemaintenances");
    }
}

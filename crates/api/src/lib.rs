//! The custom resource types drydock serves. `crds/` is generated from these (`drydock crd`).
pub mod lenient;
pub mod names;
pub mod v1alpha1;

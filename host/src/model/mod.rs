//! Kubernetes objects in, plugin records out: manifests read as the
//! apiserver reads them (decoded, defaulted, validated), quantities, and the
//! conversion to the WIT records.

pub mod convert;
pub mod default_storage_class;
pub mod defaults;
pub mod manifest;
pub mod quantity;
pub mod validation;
pub mod yaml;

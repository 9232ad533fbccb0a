//! Kubernetes objects in, plugin records out: manifests read as the
//! apiserver reads them, quantities, and the conversion to the WIT records.

pub mod convert;
pub mod manifest;
pub mod quantity;

//! kube-wasm-scheduler: a Kubernetes scheduler whose placement policies are
//! WebAssembly components.
//!
//! Follow a pod through the modules: a [`backend`] (the embedded cluster, or
//! a real one) feeds pods and nodes to the [`scheduler`] loop, which keeps
//! the [`cache`] of what runs where, the [`workloads`] that select pods
//! (PodTopologySpread's default spreading) and the [`queue`] of pods to
//! place. For
//! each pod the [`framework`] runs the profile's plugins through the
//! [`runtime`] (wasmtime), picks a node, assumes the pod there and hands it
//! to the [`binder`]. [`config`] reads the profiles; [`model`] turns
//! Kubernetes objects into the records plugins see ([`wit`]);
//! The default plugins are [`builtin_plugins`]; [`plugin_dir`] watches
//! plugin files, and [`plugin_configmaps`] ConfigMaps holding plugins, and
//! both hand new versions to the loop. [`leader_election`] lets one of
//! several replicas schedule. [`metrics`] counts and times what the loop, the queue, the
//! framework and the plugin runtime do, under kube-scheduler's metric
//! names, and serves them with `/livez` and `/readyz`. [`simulate`] and
//! [`explain`] run the framework on a cluster file. For plugin authors,
//! [`plugin_template`] starts a plugin folder in any language,
//! [`plugin_build`] builds one into a component, and [`plugin_test`] runs
//! one on a scenario. [`files`] reads the
//! files a user names within a size limit.

pub mod backend;
pub mod binder;
pub mod builtin_plugins;
pub mod cache;
pub mod config;
pub mod explain;
pub mod files;
pub mod framework;
pub mod leader_election;
pub mod metrics;
pub mod model;
pub mod plugin_build;
pub mod plugin_configmaps;
pub mod plugin_dir;
pub mod plugin_template;
pub mod plugin_test;
pub mod pod_groups;
pub mod queue;
pub mod resource_claims;
pub mod runtime;
pub mod scheduler;
pub mod simulate;
pub mod volumes;
pub mod wit;
pub mod workloads;

//! The Services, ReplicationControllers, ReplicaSets and StatefulSets of the
//! cluster, kept for one purpose: kube-scheduler's PodTopologySpread gives
//! a pod without spread constraints of its own default constraints whose
//! selector is deduced from these objects (`helper.DefaultSelector`). The
//! scheduler computes that selector for the pod of each cycle and sends it
//! as the pod record's `default-spread-selector`.
//!
//! ```
//! use kws_host::workloads::{Workload, Workloads};
//! use k8s_openapi::api::core::v1::{Pod, Service, ServiceSpec};
//! use std::sync::Arc;
//!
//! let mut workloads = Workloads::default();
//! let mut service = Service::default();
//! service.metadata.namespace = Some("default".into());
//! service.metadata.name = Some("web".into());
//! service.spec = Some(ServiceSpec {
//!     selector: Some([("app".to_string(), "web".to_string())].into()),
//!     ..ServiceSpec::default()
//! });
//! workloads.apply(Workload::Service(Arc::new(service)));
//!
//! let mut pod = Pod::default();
//! pod.metadata.namespace = Some("default".into());
//! pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
//! let selector = workloads.default_spread_selector(&pod).expect("the Service selects the pod");
//! assert_eq!(selector.match_labels, [("app".to_string(), "web".to_string())]);
//! ```

use crate::wit::{LabelSelector, Operator, Requirement};
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One object of a kind the default spread selector is deduced from.
#[derive(Debug, Clone)]
pub enum Workload {
    Service(Arc<core::Service>),
    ReplicationController(Arc<core::ReplicationController>),
    ReplicaSet(Arc<apps::ReplicaSet>),
    StatefulSet(Arc<apps::StatefulSet>),
}

impl Workload {
    fn metadata(&self) -> &meta::ObjectMeta {
        match self {
            Workload::Service(o) => &o.metadata,
            Workload::ReplicationController(o) => &o.metadata,
            Workload::ReplicaSet(o) => &o.metadata,
            Workload::StatefulSet(o) => &o.metadata,
        }
    }

    /// `(namespace, name)`.
    fn key(&self) -> (String, String) {
        let meta = self.metadata();
        (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

type Objects<T> = BTreeMap<(String, String), Arc<T>>;

/// What the scheduler's listers of these four kinds would hold, by
/// namespace and name.
#[derive(Debug, Default, Clone)]
pub struct Workloads {
    services: Objects<core::Service>,
    replication_controllers: Objects<core::ReplicationController>,
    replica_sets: Objects<apps::ReplicaSet>,
    stateful_sets: Objects<apps::StatefulSet>,
}

impl Workloads {
    /// Adds or replaces the object (by kind, namespace and name).
    pub fn apply(&mut self, workload: Workload) {
        let key = workload.key();
        match workload {
            Workload::Service(o) => {
                self.services.insert(key, o);
            }
            Workload::ReplicationController(o) => {
                self.replication_controllers.insert(key, o);
            }
            Workload::ReplicaSet(o) => {
                self.replica_sets.insert(key, o);
            }
            Workload::StatefulSet(o) => {
                self.stateful_sets.insert(key, o);
            }
        }
    }

    /// Forgets the object of that kind, namespace and name.
    pub fn delete(&mut self, workload: &Workload) {
        let key = workload.key();
        match workload {
            Workload::Service(_) => {
                self.services.remove(&key);
            }
            Workload::ReplicationController(_) => {
                self.replication_controllers.remove(&key);
            }
            Workload::ReplicaSet(_) => {
                self.replica_sets.remove(&key);
            }
            Workload::StatefulSet(_) => {
                self.stateful_sets.remove(&key);
            }
        }
    }

    /// The selector of the pod's default spreading constraints, exactly as
    /// upstream's `helper.DefaultSelector`: the selectors of every Service
    /// in the pod's namespace whose (non-nil) selector matches the pod's
    /// labels, merged; then, if the pod's controller (the owner reference
    /// with `controller: true`) is a ReplicationController (`v1`), its
    /// selector merged in too (winning on a shared key); if it is a
    /// ReplicaSet or StatefulSet (`apps/v1`), its selector's requirements
    /// added. The controller is found by name in the pod's namespace and
    /// need not select the pod. `None` when the result has no requirement,
    /// upstream's `selector.Empty()`: no default constraint applies.
    pub fn default_spread_selector(&self, pod: &core::Pod) -> Option<LabelSelector> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let empty = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        let in_namespace = |(ns, _): &&(String, String)| *ns == namespace;
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        for (_, service) in self.services.iter().filter(|(k, _)| in_namespace(k)) {
            let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                // Services with nil selectors match nothing, not everything.
                continue;
            };
            if selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                merged.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let mut expressions = Vec::new();
        let key = |name: &str| (namespace.clone(), name.to_string());
        match controller_kind(pod) {
            Some((ControllerKind::ReplicationController, name)) => {
                if let Some(rc) = self.replication_controllers.get(&key(name)) {
                    let selector = rc.spec.as_ref().and_then(|s| s.selector.as_ref());
                    merged.extend(
                        selector
                            .into_iter()
                            .flatten()
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                }
            }
            Some((ControllerKind::ReplicaSet, name)) => {
                if let Some(rs) = self.replica_sets.get(&key(name)) {
                    expressions.extend(requirements(&rs.spec.selector));
                }
            }
            Some((ControllerKind::StatefulSet, name)) => {
                if let Some(ss) = self.stateful_sets.get(&key(name)) {
                    expressions.extend(requirements(&ss.spec.selector));
                }
            }
            None => {}
        }
        if merged.is_empty() && expressions.is_empty() {
            return None;
        }
        Some(LabelSelector {
            match_labels: merged.into_iter().collect(),
            match_expressions: expressions,
        })
    }
}

/// The controller kinds `DefaultSelector` looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ControllerKind {
    ReplicationController,
    ReplicaSet,
    StatefulSet,
}

/// The pod's controller, if it is one of the kinds `DefaultSelector`
/// knows, with its name. The group and version are compared after
/// parsing `apiVersion` as `schema.ParseGroupVersion` does (`v1` and `/v1`
/// are both the core group); one that does not parse names no controller.
fn controller_kind(pod: &core::Pod) -> Option<(ControllerKind, &str)> {
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))?;
    let (group, version) = match owner.api_version.split('/').collect::<Vec<_>>().as_slice() {
        [version] => ("", *version),
        [group, version] => (*group, *version),
        _ => return None,
    };
    let kind = match (group, version, owner.kind.as_str()) {
        ("", "v1", "ReplicationController") => ControllerKind::ReplicationController,
        ("apps", "v1", "ReplicaSet") => ControllerKind::ReplicaSet,
        ("apps", "v1", "StatefulSet") => ControllerKind::StatefulSet,
        _ => return None,
    };
    Some((kind, owner.name.as_str()))
}

/// A label selector's requirements as `metav1.LabelSelectorAsSelector`
/// gives them (`matchLabels` as `key In (value)`); none for one that does
/// not convert (upstream ignores the error; the apiserver refuses such
/// controllers anyway).
fn requirements(selector: &meta::LabelSelector) -> Vec<Requirement> {
    let mut requirements: Vec<Requirement> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| Requirement {
            key: k.clone(),
            operator: Operator::In,
            values: vec![v.clone()],
        })
        .collect();
    for r in selector.match_expressions.iter().flatten() {
        let values = r.values.clone().unwrap_or_default();
        let operator = match (r.operator.as_str(), values.is_empty()) {
            ("In", false) => Operator::In,
            ("NotIn", false) => Operator::NotIn,
            ("Exists", true) => Operator::Exists,
            ("DoesNotExist", true) => Operator::DoesNotExist,
            _ => return Vec::new(),
        };
        requirements.push(Requirement {
            key: r.key.clone(),
            operator,
            values,
        });
    }
    requirements
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest;

    /// The workloads and pods of a manifest text.
    fn read(text: &str) -> (Workloads, Vec<core::Pod>) {
        let objects = manifest::parse("t.yaml", text).unwrap_or_else(|e| panic!("{e}"));
        let mut workloads = Workloads::default();
        for w in objects.workloads {
            workloads.apply(w);
        }
        (workloads, objects.pods)
    }

    fn selector_of(text: &str) -> Option<LabelSelector> {
        let (workloads, pods) = read(text);
        workloads.default_spread_selector(&pods[0])
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: web, tier: front}\nspec: {containers: [{name: c, image: i}]}\n";

    fn owned_pod(api_version: &str, kind: &str, name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {{app: web, tier: front}}\n  ownerReferences:\n  - {{apiVersion: {api_version}, kind: {kind}, name: {name}, uid: u1, controller: true}}\nspec: {{containers: [{{name: c, image: i}}]}}\n"
        )
    }

    fn service(namespace: &str, name: &str, selector: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec: {{selector: {selector}, ports: [{{port: 80}}]}}\n"
        )
    }

    const RS: &str = "---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-1}\nspec:\n  selector:\n    matchLabels: {app: web}\n    matchExpressions: [{key: tier, operator: In, values: [front, back]}]\n  template:\n    metadata: {labels: {app: web, tier: front}}\n    spec: {containers: [{name: c, image: i}]}\n";

    #[test]
    fn nothing_selects_a_lone_pod() {
        assert_eq!(selector_of(POD), None);
    }

    #[test]
    fn services_selecting_the_pod_in_its_namespace_are_merged() {
        let text = format!(
            "{POD}{}{}{}{}",
            service("default", "a", "{app: web}"),
            service("default", "b", "{tier: front}"),
            service("default", "other", "{app: db}"),
            service("elsewhere", "c", "{app: web, zone: x}"),
        );
        let selector = selector_of(&text).unwrap();
        assert_eq!(
            selector.match_labels,
            pairs(&[("app", "web"), ("tier", "front")])
        );
        assert!(selector.match_expressions.is_empty());
    }

    #[test]
    fn a_service_without_selector_selects_nothing() {
        let text = format!(
            "{POD}---\napiVersion: v1\nkind: Service\nmetadata: {{name: headless}}\nspec: {{ports: [{{port: 80}}]}}\n{}",
            service("default", "all", "{}")
        );
        // The empty selector matches the pod but adds nothing.
        assert_eq!(selector_of(&text), None);
    }

    #[test]
    fn the_owning_replica_set_adds_its_requirements() {
        let text = format!(
            "{}{RS}{}",
            owned_pod("apps/v1", "ReplicaSet", "web-1"),
            service("default", "a", "{app: web}")
        );
        let selector = selector_of(&text).unwrap();
        assert_eq!(selector.match_labels, pairs(&[("app", "web")]));
        assert_eq!(
            selector.match_expressions,
            [
                Requirement {
                    key: "app".into(),
                    operator: Operator::In,
                    values: vec!["web".into()]
                },
                Requirement {
                    key: "tier".into(),
                    operator: Operator::In,
                    values: vec!["front".into(), "back".into()]
                },
            ]
        );
    }

    #[test]
    fn only_the_controller_counts_and_only_by_kind_and_name() {
        // A ReplicaSet that is not the pod's controller adds nothing, even
        // if it selects the pod.
        assert_eq!(selector_of(&format!("{POD}{RS}")), None);
        // The wrong group, or a missing object, neither.
        let text = format!(
            "{}{RS}",
            owned_pod("extensions/v1beta1", "ReplicaSet", "web-1")
        );
        assert_eq!(selector_of(&text), None);
        let text = format!("{}{RS}", owned_pod("apps/v1", "ReplicaSet", "web-2"));
        assert_eq!(selector_of(&text), None);
        let text = format!("{}{RS}", owned_pod("apps/v1", "Deployment", "web-1"));
        assert_eq!(selector_of(&text), None);
    }

    #[test]
    fn a_replication_controller_merges_its_selector_and_wins() {
        let rc = "---\napiVersion: v1\nkind: ReplicationController\nmetadata: {name: old}\nspec:\n  selector: {app: legacy}\n  template:\n    metadata: {labels: {app: legacy}}\n    spec: {containers: [{name: c, image: i}]}\n";
        let text = format!(
            "{}{rc}{}",
            owned_pod("v1", "ReplicationController", "old"),
            service("default", "a", "{app: web}")
        );
        let selector = selector_of(&text).unwrap();
        assert_eq!(selector.match_labels, pairs(&[("app", "legacy")]));
        assert!(selector.match_expressions.is_empty());
    }

    #[test]
    fn a_stateful_set_adds_its_requirements() {
        let ss = "---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  selector: {matchExpressions: [{key: app, operator: Exists}]}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: i}]}\n";
        let text = format!("{}{ss}", owned_pod("apps/v1", "StatefulSet", "db"));
        let selector = selector_of(&text).unwrap();
        assert!(selector.match_labels.is_empty());
        assert_eq!(
            selector.match_expressions,
            [Requirement {
                key: "app".into(),
                operator: Operator::Exists,
                values: vec![]
            }]
        );
    }

    #[test]
    fn deleted_objects_are_forgotten() {
        let text = format!("{POD}{}", service("default", "a", "{app: web}"));
        let objects = manifest::parse("t.yaml", &text).unwrap();
        let mut workloads = Workloads::default();
        let service = objects.workloads[0].clone();
        workloads.apply(service.clone());
        assert!(
            workloads
                .default_spread_selector(&objects.pods[0])
                .is_some()
        );
        workloads.delete(&service);
        assert_eq!(workloads.default_spread_selector(&objects.pods[0]), None);
    }
}

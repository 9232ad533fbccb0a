//! The plugin's copy of the cluster: one [`NodeInfo`] per node id and the
//! namespaces' labels, kept up to date by the [`Change`]s the host sends.

use crate::{Change, Labels, Node, NodeId, NodeUsage, Pod, Resources, lookup};
use std::collections::BTreeMap;

/// A node as a policy sees it: its spec and status, what its pods take from
/// it, and the pods themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub id: NodeId,
    pub node: Node,
    pub usage: NodeUsage,
    pub pods: Vec<Pod>,
    /// How many of `pods` have pod affinity or anti-affinity of any kind,
    /// and how many a required anti-affinity term: kube-scheduler's
    /// `PodsWithAffinity` and `PodsWithRequiredAntiAffinity`, so that
    /// affinity policies skip the nodes where no pod has terms.
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    /// A node with no pods on it.
    pub fn new(id: NodeId, node: Node) -> Self {
        NodeInfo {
            id,
            node,
            usage: NodeUsage {
                requested: Resources::zero(),
                non_zero_requested: Resources::zero(),
                pod_count: 0,
                used_ports: Vec::new(),
            },
            pods: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The value of one of the node's labels.
    pub fn label(&self, key: &str) -> Option<&str> {
        lookup(&self.node.labels, key)
    }

    /// Recounts the pods with affinity terms after `pods` changed.
    pub(crate) fn count_affinity(&mut self) {
        self.pods_with_affinity = self.pods.iter().filter(|p| p.has_pod_affinity()).count();
        self.pods_with_required_anti_affinity = self
            .pods
            .iter()
            .filter(|p| p.has_required_anti_affinity())
            .count();
    }
}

impl Pod {
    /// Whether the pod has pod affinity or anti-affinity (required or
    /// preferred), as kube-scheduler's `podWithAffinity`.
    pub fn has_pod_affinity(&self) -> bool {
        self.pod_affinity.is_some() || self.pod_anti_affinity.is_some()
    }

    /// Whether the pod has a required anti-affinity term.
    pub fn has_required_anti_affinity(&self) -> bool {
        self.pod_anti_affinity
            .as_ref()
            .is_some_and(|a| !a.required.is_empty())
    }
}

impl Resources {
    /// No resources at all.
    pub fn zero() -> Self {
        Resources {
            milli_cpu: 0,
            memory: 0,
            ephemeral_storage: 0,
            pods: 0,
            scalar: Vec::new(),
        }
    }

    /// The amount of an extended resource (`scalar`), zero when absent.
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .map_or(0, |i| self.scalar[i].1)
    }
}

/// Every node the host has told the plugin about, indexed by [`NodeId`],
/// and every namespace's labels.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    nodes: Vec<Option<NodeInfo>>,
    namespaces: BTreeMap<String, Labels>,
}

impl Cluster {
    /// Applies the host's changes in order.
    pub fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::NodeSet((id, node)) => match self.slot(id) {
                    Some(info) => info.node = node,
                    none => *none = Some(NodeInfo::new(id, node)),
                },
                Change::NodeRemoved(id) => *self.slot(id) = None,
                Change::UsageSet((id, usage)) => {
                    if let Some(info) = self.slot(id) {
                        info.usage = usage;
                    }
                }
                Change::PodAdded(placed) => {
                    if let Some(info) = self.slot(placed.node) {
                        info.pods.retain(|p| p.uid != placed.pod.uid);
                        info.pods.push(placed.pod);
                        info.count_affinity();
                    }
                }
                Change::PodRemoved(removed) => {
                    if let Some(info) = self.slot(removed.node) {
                        info.pods.retain(|p| p.uid != removed.uid);
                        info.count_affinity();
                    }
                }
                Change::NamespaceSet(namespace) => {
                    self.namespaces.insert(namespace.name, namespace.labels);
                }
                Change::NamespaceRemoved(name) => {
                    self.namespaces.remove(&name);
                }
            }
        }
    }

    /// The node with this id, if the host has sent it.
    pub fn get(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.get(id as usize).and_then(Option::as_ref)
    }

    /// Every node, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().flatten()
    }

    /// A namespace's labels, or `None` if the host has not sent it.
    pub fn namespace_labels(&self, name: &str) -> Option<&Labels> {
        self.namespaces.get(name)
    }

    /// Every namespace with its labels, by name.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &Labels)> {
        self.namespaces.iter().map(|(n, l)| (n.as_str(), l))
    }

    fn slot(&mut self, id: NodeId) -> &mut Option<NodeInfo> {
        let index = id as usize;
        if index >= self.nodes.len() {
            self.nodes.resize(index + 1, None);
        }
        &mut self.nodes[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod};
    use crate::{PlacedPod, RemovedPod};

    #[test]
    fn changes_build_and_update_the_node_table() {
        let mut cluster = Cluster::default();
        cluster.apply(vec![
            Change::NodeSet((3, node("n3").build())),
            Change::PodAdded(PlacedPod {
                node: 3,
                pod: pod("default", "a").build(),
            }),
            Change::PodAdded(PlacedPod {
                node: 3,
                pod: pod("default", "b").build(),
            }),
        ]);
        let n3 = cluster.get(3).expect("node 3 was set");
        assert_eq!(n3.pods.len(), 2);
        assert!(cluster.get(0).is_none());

        cluster.apply(vec![
            Change::NodeSet((3, node("n3").label("zone", "a").build())),
            Change::PodRemoved(RemovedPod {
                node: 3,
                uid: "default/a".into(),
            }),
        ]);
        let n3 = cluster.get(3).unwrap();
        assert_eq!(n3.label("zone"), Some("a"));
        assert_eq!(n3.pods.len(), 1, "a node update keeps the node's pods");
        assert_eq!(n3.pods[0].name, "b");

        cluster.apply(vec![Change::NodeRemoved(3)]);
        assert!(cluster.get(3).is_none());
        assert_eq!(cluster.nodes().count(), 0);
    }

    #[test]
    fn namespaces_and_affinity_counts_follow_the_changes() {
        use crate::{Namespace, PodAffinity, PodAffinityTerm};
        let labels = vec![("team".to_string(), "a".to_string())];
        let mut cluster = Cluster::default();
        cluster.apply(vec![Change::NamespaceSet(Namespace {
            name: "team-a".into(),
            labels: labels.clone(),
        })]);
        assert_eq!(cluster.namespace_labels("team-a"), Some(&labels));
        assert_eq!(cluster.namespaces().count(), 1);
        cluster.apply(vec![Change::NamespaceRemoved("team-a".into())]);
        assert_eq!(cluster.namespace_labels("team-a"), None);

        let term = PodAffinityTerm {
            label_selector: None,
            namespaces: vec![],
            namespace_selector: None,
            topology_key: "zone".into(),
            match_label_keys: vec![],
            mismatch_label_keys: vec![],
        };
        let anti = PodAffinity {
            required: vec![term],
            preferred: vec![],
        };
        cluster.apply(vec![
            Change::NodeSet((0, node("n0").build())),
            Change::PodAdded(PlacedPod {
                node: 0,
                pod: pod("d", "guard").pod_anti_affinity(anti).build(),
            }),
            Change::PodAdded(PlacedPod {
                node: 0,
                pod: pod("d", "plain").build(),
            }),
        ]);
        let n0 = cluster.get(0).unwrap();
        assert_eq!(
            (n0.pods_with_affinity, n0.pods_with_required_anti_affinity),
            (1, 1)
        );
        cluster.apply(vec![Change::PodRemoved(RemovedPod {
            node: 0,
            uid: "d/guard".into(),
        })]);
        let n0 = cluster.get(0).unwrap();
        assert_eq!(
            (n0.pods_with_affinity, n0.pods_with_required_anti_affinity),
            (0, 0)
        );
    }
}

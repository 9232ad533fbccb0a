//! The plugin's copy of the cluster: one [`NodeInfo`] per node id and the
//! namespaces' labels, kept up to date by the [`Change`]s the host sends.

use crate::affinity::{AffinityTerms, PodWithAffinity};
use crate::{Change, Labels, Node, NodeId, NodeUsage, Pod, Resources, lookup};
use std::collections::{BTreeMap, BTreeSet};

/// A node as a policy sees it: its spec and status, what its pods take from
/// it, and the pods themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub id: NodeId,
    pub node: Node,
    pub usage: NodeUsage,
    pub pods: Vec<Pod>,
    /// The pods of `pods` that have pod affinity or anti-affinity of any
    /// kind, with their terms parsed: kube-scheduler's `PodsWithAffinity`,
    /// so that affinity policies parse no terms per call and skip the
    /// nodes where no pod has any.
    pub pods_with_affinity: Vec<PodWithAffinity>,
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
            pods_with_affinity: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The value of one of the node's labels.
    pub fn label(&self, key: &str) -> Option<&str> {
        lookup(&self.node.labels, key)
    }

    /// One of the node's labels as a key-value pair.
    pub fn label_pair(&self, key: &str) -> Option<(&str, &str)> {
        let labels = &self.node.labels;
        labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| (labels[i].0.as_str(), labels[i].1.as_str()))
    }

    /// The pods with a required anti-affinity term (kube-scheduler's
    /// `PodsWithRequiredAntiAffinity`).
    pub fn pods_with_required_anti_affinity(&self) -> impl Iterator<Item = &PodWithAffinity> {
        self.pods_with_affinity
            .iter()
            .filter(|p| !p.terms.required_anti_affinity.is_empty())
    }

    /// Puts a pod on the node, replacing the one with the same uid.
    fn add_pod(&mut self, pod: Pod) {
        self.remove_pod(&pod.uid);
        self.push_pod(pod);
    }

    /// Puts a pod on the node, whatever else runs there.
    pub(crate) fn push_pod(&mut self, pod: Pod) {
        if pod.has_pod_affinity() {
            self.pods_with_affinity.push(PodWithAffinity {
                uid: pod.uid.clone(),
                terms: AffinityTerms::of_placed(&pod),
            });
        }
        self.pods.push(pod);
    }

    fn remove_pod(&mut self, uid: &str) {
        self.pods.retain(|p| p.uid != uid);
        self.pods_with_affinity.retain(|p| p.uid != uid);
    }
}

impl Pod {
    /// Whether the pod has pod affinity or anti-affinity (required or
    /// preferred), as kube-scheduler's `podWithAffinity`.
    pub fn has_pod_affinity(&self) -> bool {
        self.pod_affinity.is_some() || self.pod_anti_affinity.is_some()
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
    /// Pod changes are dropped ([`Cluster::without_pods`]).
    no_pods: bool,
    nodes: Vec<Option<NodeInfo>>,
    /// How many nodes there are; kept so that asking costs nothing.
    len: usize,
    /// For each image name a node reports (`status.images[].names`), how
    /// many nodes report it: what kube-scheduler's image states count.
    image_nodes: BTreeMap<String, usize>,
    namespaces: BTreeMap<String, Labels>,
}

impl Cluster {
    /// A cluster that keeps nodes, their usage and namespaces, but no pods:
    /// for policies that never look at pods ([`Plugin::READS_PODS`]).
    ///
    /// [`Plugin::READS_PODS`]: crate::Plugin::READS_PODS
    pub fn without_pods() -> Self {
        Cluster {
            no_pods: true,
            ..Cluster::default()
        }
    }

    /// Applies the host's changes in order.
    pub fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::NodeSet((id, node)) => {
                    self.forget_images(id);
                    self.count_images(&node, 1);
                    match self.slot(id) {
                        Some(info) => info.node = node,
                        none => {
                            *none = Some(NodeInfo::new(id, node));
                            self.len += 1;
                        }
                    }
                }
                Change::NodeRemoved(id) => {
                    self.forget_images(id);
                    if self.slot(id).take().is_some() {
                        self.len -= 1;
                    }
                }
                Change::UsageSet((id, usage)) => {
                    if let Some(info) = self.slot(id) {
                        info.usage = usage;
                    }
                }
                Change::PodAdded(_) | Change::PodRemoved(_) if self.no_pods => {}
                Change::PodAdded(placed) => {
                    if let Some(info) = self.slot(placed.node) {
                        info.add_pod(placed.pod);
                    }
                }
                Change::PodRemoved(removed) => {
                    if let Some(info) = self.slot(removed.node) {
                        info.remove_pod(&removed.uid);
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

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many nodes list an image under exactly this name (names are
    /// compared as the nodes report them, without normalisation).
    pub fn nodes_with_image(&self, name: &str) -> usize {
        self.image_nodes.get(name).copied().unwrap_or(0)
    }

    fn forget_images(&mut self, id: NodeId) {
        if let Some(old) = self.get(id).map(|info| info.node.clone()) {
            self.count_images(&old, -1);
        }
    }

    /// Adds (`delta` 1) or removes (-1) one node's image names; a name the
    /// node lists twice counts once.
    fn count_images(&mut self, node: &Node, delta: isize) {
        let names: BTreeSet<&str> = node
            .images
            .iter()
            .flat_map(|i| i.names.iter().map(String::as_str))
            .collect();
        for name in names {
            let count = self.image_nodes.entry(name.to_string()).or_default();
            *count = count.saturating_add_signed(delta);
            if *count == 0 {
                self.image_nodes.remove(name);
            }
        }
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
        assert_eq!(cluster.len(), 0);
    }

    #[test]
    fn a_cluster_without_pods_keeps_nodes_and_usage_only() {
        let mut cluster = Cluster::without_pods();
        let usage = NodeUsage {
            requested: Resources::zero(),
            non_zero_requested: Resources::zero(),
            pod_count: 1,
            used_ports: Vec::new(),
        };
        cluster.apply(vec![
            Change::NodeSet((0, node("n0").build())),
            Change::UsageSet((0, usage.clone())),
            Change::PodAdded(PlacedPod {
                node: 0,
                pod: pod("default", "a").build(),
            }),
            Change::PodRemoved(RemovedPod {
                node: 0,
                uid: "default/a".into(),
            }),
        ]);
        let n0 = cluster.get(0).expect("node 0 was set");
        assert_eq!(n0.usage, usage);
        assert!(n0.pods.is_empty());
    }

    #[test]
    fn image_counts_follow_node_changes() {
        let mut cluster = Cluster::default();
        let with = |name: &str, images: &[&str]| {
            let mut n = node(name);
            for image in images {
                n = n.image(image, 10);
            }
            n.build()
        };
        cluster.apply(vec![
            Change::NodeSet((0, with("a", &["nginx:latest", "redis:7", "nginx:latest"]))),
            Change::NodeSet((1, with("b", &["nginx:latest"]))),
            Change::NodeSet((2, with("c", &[]))),
        ]);
        assert_eq!(cluster.len(), 3);
        assert_eq!(cluster.nodes_with_image("nginx:latest"), 2);
        assert_eq!(cluster.nodes_with_image("redis:7"), 1);
        assert_eq!(cluster.nodes_with_image("nginx"), 0);

        cluster.apply(vec![
            Change::NodeSet((0, with("a", &["redis:7"]))),
            Change::NodeRemoved(1),
            Change::NodeRemoved(7),
        ]);
        assert_eq!(cluster.len(), 2);
        assert_eq!(cluster.nodes_with_image("nginx:latest"), 0);
        assert_eq!(cluster.nodes_with_image("redis:7"), 1);
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
        assert_eq!(n0.pods_with_affinity.len(), 1);
        assert_eq!(n0.pods_with_affinity[0].uid, "d/guard");
        assert_eq!(n0.pods_with_required_anti_affinity().count(), 1);
        cluster.apply(vec![Change::PodRemoved(RemovedPod {
            node: 0,
            uid: "d/guard".into(),
        })]);
        let n0 = cluster.get(0).unwrap();
        assert!(n0.pods_with_affinity.is_empty());
        assert_eq!(n0.pods.len(), 1);
    }
}

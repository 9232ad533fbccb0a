//! What runs where: every node and every pod bound (or assumed) to one, as
//! the scheduler believes it after its own decisions.
//!
//! Pods are *assumed* on their node when a cycle picks it, before the bind
//! reaches the cluster, so the next cycle already counts them. A failed bind
//! *forgets* the pod; the informer's view of the bound pod *confirms* it.
//! Assumed pods never expire (as in kube-scheduler since it dropped the
//! TTL): only a bind result or an informer event ends them.
//!
//! Plugins keep their own copy of this state (see `wit/scheduler.wit`), so
//! every mutation is also written to a change log. A plugin instance catches
//! up by applying the changes since the sequence number it last saw, or by a
//! full resync when it is new or has fallen behind the log.

use crate::model::convert;
use crate::pod_groups::PodGroups;
use crate::volumes::Volumes;
use crate::wit::{
    Change, HostPort, Namespace, Node, NodeId, NodeUsage, PlacedPod, Pod, RemovedPod, Resources,
};
use k8s_openapi::api::core::v1 as core;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How many changes the log keeps before dropping the oldest; an instance
/// further behind gets a full resync instead.
const LOG_CAPACITY: usize = 100_000;

/// A pod known to the cache.
#[derive(Debug, Clone)]
struct CachedPod {
    node: String,
    record: Pod,
    /// Placed by this scheduler, not yet seen bound by the informer.
    assumed: bool,
    /// The object as the cluster last reported it (its start time and
    /// conditions, which preemption weighs); `None` until
    /// [`Cache::set_pod_object`].
    object: Option<Arc<core::Pod>>,
}

#[derive(Debug, Default)]
struct NodeEntry {
    /// Set while the Node object exists; a node can have pods before its
    /// object arrives or after it is deleted.
    id: Option<NodeId>,
    object: Option<Arc<core::Node>>,
    record: Option<Node>,
    usage: Usage,
    pods: Vec<String>,
}

/// A node's usage, kept as the WIT record.
#[derive(Debug, Clone)]
struct Usage(NodeUsage);

impl Default for Usage {
    fn default() -> Self {
        Usage(NodeUsage {
            requested: Resources::zero(),
            non_zero_requested: Resources::zero(),
            pod_count: 0,
            used_ports: Vec::new(),
        })
    }
}

impl Usage {
    fn add(&mut self, pod: &Pod) {
        self.0.requested.add(&pod.requests);
        self.0.non_zero_requested.add(&pod.non_zero_requests);
        self.0.pod_count += 1;
        self.0.used_ports.extend(host_ports(pod));
    }

    /// Takes the pod's share off. A host port goes from the node even
    /// when another pod there holds it too: upstream's `HostPortInfo` is a
    /// set, and `NodeInfo.RemovePod` deletes the entry. Only pods bound
    /// past the scheduler can share one; preemption's dry run then sees the
    /// port free once a victim holding it is gone, on both sides.
    fn remove(&mut self, pod: &Pod) {
        self.0.requested.subtract(&pod.requests);
        self.0.non_zero_requested.subtract(&pod.non_zero_requests);
        self.0.pod_count = self.0.pod_count.saturating_sub(1);
        for port in host_ports(pod) {
            self.0.used_ports.retain(|p| *p != port);
        }
    }
}

fn host_ports(pod: &Pod) -> impl Iterator<Item = HostPort> + '_ {
    pod.containers
        .iter()
        .chain(&pod.init_containers)
        .flat_map(|c| c.host_ports.iter().cloned())
}

/// One node in a cycle's snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotNode {
    pub id: NodeId,
    pub name: String,
    pub object: Arc<core::Node>,
}

/// The nodes a scheduling cycle considers, fixed for the cycle.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every node, in the order they joined the cache.
    pub nodes: Vec<SnapshotNode>,
    /// Position in `nodes` by node id.
    by_id: Vec<Option<usize>>,
    /// The storage objects and pod volumes, for the volume plugins
    /// (shared, not fixed for the cycle: VolumeBinding's assumptions must
    /// be seen at once).
    pub volumes: Option<Arc<Volumes>>,
}

impl Snapshot {
    pub fn node(&self, id: NodeId) -> Option<&SnapshotNode> {
        let index = (*self.by_id.get(id as usize)?)?;
        self.nodes.get(index)
    }
}

/// The ordered log of changes plugins have not all seen yet.
#[derive(Debug, Default)]
struct ChangeLog {
    /// Sequence number of `changes[0]`.
    base: u64,
    changes: Vec<Change>,
}

impl ChangeLog {
    fn seq(&self) -> u64 {
        self.base + self.changes.len() as u64
    }

    fn push(&mut self, change: Change) {
        if self.changes.len() >= 2 * LOG_CAPACITY {
            self.changes.drain(..LOG_CAPACITY);
            self.base += LOG_CAPACITY as u64;
        }
        self.changes.push(change);
    }

    fn since(&self, seq: u64) -> Option<&[Change]> {
        let start = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.changes.get(start..)
    }
}

/// Bring a plugin's copy of the cluster from `from` (or from nothing) to now.
pub enum Catchup<'a> {
    /// Apply these changes, in order.
    Changes(&'a [Change]),
    /// The plugin is new or too far behind: apply this whole state.
    Full(Vec<Change>),
}

#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<String, NodeEntry>,
    pods: HashMap<String, CachedPod>,
    /// Namespace labels by name, for pod affinity's `namespaceSelector`.
    namespaces: BTreeMap<String, Namespace>,
    log: ChangeLog,
    /// Node order for snapshots: names in the order they joined.
    order: Vec<String>,
    free_ids: Vec<NodeId>,
    next_id: NodeId,
    snapshot: Option<Arc<Snapshot>>,
    /// Pending pods nominated to a node (by preemption), by uid: kube-
    /// scheduler's nominator. They count against their node for pods of
    /// lower or equal priority (see `framework`).
    nominated: HashMap<String, Nominated>,
    /// Every PodDisruptionBudget, by uid, as preemption counts them.
    budgets: BTreeMap<String, crate::wit::PodDisruptionBudget>,
    /// PodGroups and the pods that name them, for gang scheduling.
    pod_groups: PodGroups,
    /// The storage objects, and the volumes of the pods placed here.
    volumes: Arc<Volumes>,
}

/// A pending pod nominated to a node.
#[derive(Debug, Clone)]
pub struct Nominated {
    pub node: String,
    pub pod: Pod,
}

/// A pod on a node, as preemption considers it.
#[derive(Debug, Clone, Copy)]
pub struct PlacedPodView<'a> {
    pub record: &'a Pod,
    pub object: Option<&'a Arc<core::Pod>>,
}

/// The assume and bind bookkeeping of one pod went wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CacheError {
    #[error("pod {0} is already in the cache")]
    AlreadyCached(String),
    #[error("pod {0} is not assumed")]
    NotAssumed(String),
}

impl Cache {
    /// The sequence number of the newest change.
    pub fn seq(&self) -> u64 {
        self.log.seq()
    }

    /// What an instance that last saw `seen` (None: nothing) must apply.
    pub fn catchup(&self, seen: Option<u64>) -> Catchup<'_> {
        match seen.and_then(|s| self.log.since(s)) {
            Some(changes) => Catchup::Changes(changes),
            None => Catchup::Full(self.full_state()),
        }
    }

    /// The whole state as changes and the sequence number it stands at:
    /// what warms a new version's instances off the scheduling loop
    /// ([`crate::runtime::PluginPool::warm`]), which then catch up from
    /// that number.
    pub fn state(&self) -> (Vec<Change>, u64) {
        (self.full_state(), self.seq())
    }

    /// The whole state as changes, for a fresh plugin instance.
    fn full_state(&self) -> Vec<Change> {
        let mut changes: Vec<Change> = self
            .namespaces
            .values()
            .cloned()
            .map(Change::NamespaceSet)
            .collect();
        for name in &self.order {
            let entry = &self.nodes[name];
            let (Some(id), Some(record)) = (entry.id, &entry.record) else {
                continue;
            };
            changes.push(Change::NodeSet((id, record.clone())));
            changes.push(Change::UsageSet((id, entry.usage.0.clone())));
            for uid in &entry.pods {
                changes.push(Change::PodAdded(PlacedPod {
                    node: id,
                    pod: self.pods[uid].record.clone(),
                }));
            }
        }
        changes
    }

    /// The nodes as they are now; shared until the node set changes.
    pub fn snapshot(&mut self) -> Arc<Snapshot> {
        if let Some(snapshot) = &self.snapshot {
            return snapshot.clone();
        }
        let mut snapshot = Snapshot {
            volumes: Some(self.volumes.clone()),
            ..Snapshot::default()
        };
        for name in &self.order {
            let entry = &self.nodes[name];
            if let (Some(id), Some(object)) = (entry.id, &entry.object) {
                let index = id as usize;
                if snapshot.by_id.len() <= index {
                    snapshot.by_id.resize(index + 1, None);
                }
                snapshot.by_id[index] = Some(snapshot.nodes.len());
                snapshot.nodes.push(SnapshotNode {
                    id,
                    name: name.clone(),
                    object: object.clone(),
                });
            }
        }
        let snapshot = Arc::new(snapshot);
        self.snapshot = Some(snapshot.clone());
        snapshot
    }

    /// Adds or updates a namespace from the cluster; only a change to its
    /// labels reaches the plugins.
    pub fn set_namespace(&mut self, object: &core::Namespace) {
        let record = convert::namespace(object);
        if self.namespaces.get(&record.name) != Some(&record) {
            self.log.push(Change::NamespaceSet(record.clone()));
            self.namespaces.insert(record.name.clone(), record);
        }
    }

    /// Forgets a deleted namespace.
    pub fn remove_namespace(&mut self, name: &str) {
        if self.namespaces.remove(name).is_some() {
            self.log.push(Change::NamespaceRemoved(name.to_string()));
        }
    }

    /// Adds or updates a node from the cluster.
    pub fn set_node(&mut self, object: Arc<core::Node>) {
        let name = object.metadata.name.clone().unwrap_or_default();
        let record = convert::node(&object);
        self.snapshot = None;
        let entry = entry(&mut self.nodes, &mut self.order, &name);
        entry.object = Some(object);
        match entry.id {
            Some(id) => {
                if entry.record.as_ref() != Some(&record) {
                    self.log.push(Change::NodeSet((id, record.clone())));
                    entry.record = Some(record);
                }
            }
            None => {
                let id = self.free_ids.pop().unwrap_or_else(|| {
                    self.next_id += 1;
                    self.next_id - 1
                });
                entry.id = Some(id);
                entry.record = Some(record.clone());
                self.log.push(Change::NodeSet((id, record)));
                self.log.push(Change::UsageSet((id, entry.usage.0.clone())));
                for uid in &entry.pods {
                    self.log.push(Change::PodAdded(PlacedPod {
                        node: id,
                        pod: self.pods[uid].record.clone(),
                    }));
                }
            }
        }
    }

    /// Removes a node. Its pods stay counted under its name until they are
    /// deleted, as in kube-scheduler, so a node that comes back sees them.
    pub fn remove_node(&mut self, name: &str) {
        let Some(entry) = self.nodes.get_mut(name) else {
            return;
        };
        if let Some(id) = entry.id.take() {
            self.log.push(Change::NodeRemoved(id));
            self.free_ids.push(id);
        }
        entry.object = None;
        entry.record = None;
        self.snapshot = None;
        if entry.pods.is_empty() {
            self.nodes.remove(name);
            self.order.retain(|n| n != name);
        }
    }

    /// Places `pod` on `node` before its bind: later cycles count it.
    pub fn assume(&mut self, pod: Pod, node: &str) -> Result<(), CacheError> {
        if self.pods.contains_key(&pod.uid) {
            return Err(CacheError::AlreadyCached(pod.uid));
        }
        self.insert(pod, node, true);
        Ok(())
    }

    /// Undoes [`Cache::assume`] after a failed bind.
    pub fn forget(&mut self, uid: &str) -> Result<(), CacheError> {
        match self.pods.get(uid) {
            Some(p) if p.assumed => {
                self.remove_pod(uid);
                Ok(())
            }
            _ => Err(CacheError::NotAssumed(uid.to_string())),
        }
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// A node's object as the cluster last reported it.
    pub fn node_object(&self, name: &str) -> Option<&Arc<core::Node>> {
        self.nodes.get(name)?.object.as_ref()
    }

    /// A pod's record, if the cache has it (bound or assumed).
    pub fn pod_record(&self, uid: &str) -> Option<&Pod> {
        self.pods.get(uid).map(|p| &p.record)
    }

    /// Whether a namespace is known.
    pub fn has_namespace(&self, name: &str) -> bool {
        self.namespaces.contains_key(name)
    }

    /// Which node the cache has a pod on, if any.
    pub fn pod_node(&self, uid: &str) -> Option<&str> {
        self.pods.get(uid).map(|p| p.node.as_str())
    }

    /// Keeps the object of a pod the cache holds (bound or assumed), for
    /// what its record lacks; nothing for a pod it does not hold.
    pub fn set_pod_object(&mut self, object: Arc<core::Pod>) {
        let uid = object.metadata.uid.as_deref().unwrap_or_default();
        if let Some(cached) = self.pods.get_mut(uid) {
            self.volumes.set_pod(uid, &cached.node, &object);
            cached.object = Some(object);
        }
    }

    /// The pods on a node (bound or assumed), in the order they came.
    pub fn node_pods(&self, node: &str) -> impl Iterator<Item = PlacedPodView<'_>> {
        self.nodes
            .get(node)
            .into_iter()
            .flat_map(|entry| &entry.pods)
            .filter_map(|uid| self.pods.get(uid))
            .map(|cached| PlacedPodView {
                record: &cached.record,
                object: cached.object.as_ref(),
            })
    }

    /// What a node's pods take from it now.
    pub fn node_usage(&self, node: &str) -> Option<NodeUsage> {
        self.nodes.get(node).map(|entry| entry.usage.0.clone())
    }

    /// The changes that make a plugin's copy of `node` look as if
    /// `removed` were gone and `added` were placed there, and the changes
    /// that undo them (what-if filters: preemption, nominated pods).
    pub fn what_if(
        id: NodeId,
        usage: &NodeUsage,
        removed: &[&Pod],
        added: &[&Pod],
    ) -> (Vec<Change>, Vec<Change>) {
        let mut changed = Usage(usage.clone());
        let mut forward = Vec::with_capacity(removed.len() + added.len() + 1);
        let mut back = Vec::with_capacity(removed.len() + added.len() + 1);
        for pod in removed {
            changed.remove(pod);
            forward.push(Change::PodRemoved(RemovedPod {
                node: id,
                uid: pod.uid.clone(),
            }));
            back.push(Change::PodAdded(PlacedPod {
                node: id,
                pod: (*pod).clone(),
            }));
        }
        for pod in added {
            changed.add(pod);
            forward.push(Change::PodAdded(PlacedPod {
                node: id,
                pod: (*pod).clone(),
            }));
            back.push(Change::PodRemoved(RemovedPod {
                node: id,
                uid: pod.uid.clone(),
            }));
        }
        forward.push(Change::UsageSet((id, changed.0)));
        back.push(Change::UsageSet((id, usage.clone())));
        (forward, back)
    }

    /// Adds or replaces a PodDisruptionBudget (by uid).
    pub fn set_budget(&mut self, uid: &str, budget: crate::wit::PodDisruptionBudget) {
        self.budgets.insert(uid.to_string(), budget);
    }

    pub fn remove_budget(&mut self, uid: &str) {
        self.budgets.remove(uid);
    }

    /// The storage objects and pod volumes (shared with the plugin
    /// instances and the binding cycles).
    pub fn volumes(&self) -> &Arc<Volumes> {
        &self.volumes
    }

    /// The PodGroups and their members, to keep up to date.
    pub fn pod_groups_mut(&mut self) -> &mut PodGroups {
        &mut self.pod_groups
    }

    /// The group of `pod` as GangScheduling sees it (its members counted
    /// as placed when the cache holds them); `None` when it names none.
    pub fn pod_group_of(&self, pod: &core::Pod) -> Option<crate::wit::PodGroup> {
        self.pod_groups
            .state_of(pod, |uid| self.pods.get(uid).map(|p| p.assumed))
    }

    /// Every PodDisruptionBudget.
    pub fn budgets(&self) -> impl Iterator<Item = &crate::wit::PodDisruptionBudget> {
        self.budgets.values()
    }

    /// Nominates a pending pod to `node` (replacing an earlier
    /// nomination); an empty node name clears it.
    pub fn nominate(&mut self, pod: Pod, node: &str) {
        if node.is_empty() {
            self.nominated.remove(&pod.uid);
        } else {
            self.nominated.insert(
                pod.uid.clone(),
                Nominated {
                    node: node.to_string(),
                    pod,
                },
            );
        }
    }

    /// Ends a pod's nomination (it was bound, deleted or renominated).
    pub fn clear_nomination(&mut self, uid: &str) -> Option<Nominated> {
        self.nominated.remove(uid)
    }

    /// The node a pod is nominated to.
    pub fn nomination(&self, uid: &str) -> Option<&str> {
        self.nominated.get(uid).map(|n| n.node.as_str())
    }

    /// The pods nominated to `node` that count for `pod`: another pod's,
    /// of equal or higher priority (upstream's addNominatedPods).
    pub fn nominated_for<'a>(
        &'a self,
        node: &'a str,
        pod: &'a Pod,
    ) -> impl Iterator<Item = &'a Pod> + 'a {
        self.nominated
            .values()
            .filter(move |n| {
                n.node == node && n.pod.uid != pod.uid && n.pod.priority >= pod.priority
            })
            .map(|n| &n.pod)
    }

    /// Every pod nominated to `node`.
    pub fn nominated_to<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Pod> + 'a {
        self.nominated
            .values()
            .filter(move |n| n.node == node)
            .map(|n| &n.pod)
    }

    /// Whether any pod is nominated anywhere (the filter's fast path).
    pub fn has_nominations(&self) -> bool {
        !self.nominated.is_empty()
    }

    /// Adds or updates a pod the cluster reports bound to `node`: confirms
    /// an assumed pod, and counts pods bound by anyone else.
    ///
    /// Pods are known by uid, which the apiserver (and the embedded
    /// cluster) gives each pod afresh. A pod under a uid the cache holds for
    /// another pod (another namespace or name: those never change for one
    /// object) is never taken for it: it is logged as an error and not
    /// counted, and the first pod stays as it was.
    pub fn set_bound_pod(&mut self, pod: Pod, node: &str) {
        if let Some(existing) = self.pods.get_mut(&pod.uid) {
            let held = &existing.record;
            if (&held.namespace, &held.name) != (&pod.namespace, &pod.name) {
                tracing::error!(
                    uid = pod.uid,
                    held = format!("{}/{}", held.namespace, held.name),
                    refused = format!("{}/{}", pod.namespace, pod.name),
                    "two pods share a uid; the second is not counted"
                );
                return;
            }
            if existing.node == node && existing.record == pod {
                existing.assumed = false;
                return;
            }
            let uid = pod.uid.clone();
            self.remove_pod(&uid);
        }
        self.insert(pod, node, false);
    }

    /// Removes a pod (deleted from the cluster, or a forgotten assumption).
    pub fn remove_pod(&mut self, uid: &str) {
        self.volumes.remove_pod(uid);
        let Some(cached) = self.pods.remove(uid) else {
            return;
        };
        let Some(entry) = self.nodes.get_mut(&cached.node) else {
            return;
        };
        entry.pods.retain(|p| p != uid);
        entry.usage.remove(&cached.record);
        if let Some(id) = entry.id {
            self.log.push(Change::PodRemoved(RemovedPod {
                node: id,
                uid: uid.to_string(),
            }));
            self.log.push(Change::UsageSet((id, entry.usage.0.clone())));
        } else if entry.pods.is_empty() {
            self.nodes.remove(&cached.node);
            self.order.retain(|n| *n != cached.node);
        }
    }

    fn insert(&mut self, pod: Pod, node: &str, assumed: bool) {
        let entry = entry(&mut self.nodes, &mut self.order, node);
        entry.pods.push(pod.uid.clone());
        entry.usage.add(&pod);
        if let Some(id) = entry.id {
            self.log.push(Change::PodAdded(PlacedPod {
                node: id,
                pod: pod.clone(),
            }));
            self.log.push(Change::UsageSet((id, entry.usage.0.clone())));
        }
        self.pods.insert(
            pod.uid.clone(),
            CachedPod {
                node: node.to_string(),
                record: pod,
                assumed,
                object: None,
            },
        );
    }
}

/// The entry for a node name, created (and ordered last) if new. A free
/// function so the caller can borrow the cache's other fields meanwhile.
fn entry<'a>(
    nodes: &'a mut HashMap<String, NodeEntry>,
    order: &mut Vec<String>,
    name: &str,
) -> &'a mut NodeEntry {
    if !nodes.contains_key(name) {
        order.push(name.to_string());
    }
    nodes.entry(name.to_string()).or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest;

    fn objects(yaml: &str) -> manifest::Manifests {
        manifest::parse("t.yaml", yaml).unwrap()
    }

    fn node(name: &str) -> Arc<core::Node> {
        Arc::new(
            objects(&format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\nstatus: {{capacity: {{cpu: '4', memory: 4Gi, pods: '10'}}}}\n"
            ))
            .nodes
            .remove(0),
        )
    }

    fn pod(name: &str, cpu: &str) -> Pod {
        convert::pod(
            &objects(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: c, image: i, resources: {{requests: {{cpu: '{cpu}'}}}}, ports: [{{containerPort: 80, hostPort: 80}}]}}]\n"
            ))
            .pods[0],
        )
    }

    /// Replays the cache's changes into a plugin-side table, as an
    /// instance would, and returns the usage it ends with for `id`.
    fn replay(cache: &Cache, id: NodeId) -> (NodeUsage, usize) {
        let Catchup::Full(changes) = cache.catchup(None) else {
            panic!("a fresh instance gets the full state");
        };
        let mut usage = None;
        let mut pods = 0;
        for change in changes {
            match change {
                Change::UsageSet((i, u)) if i == id => usage = Some(u),
                Change::PodAdded(p) if p.node == id => pods += 1,
                _ => {}
            }
        }
        (usage.expect("usage was sent"), pods)
    }

    #[test]
    fn assume_counts_the_pod_and_forget_undoes_it() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        let p = pod("web", "500m");
        let uid = p.uid.clone();
        cache.assume(p.clone(), "n1").unwrap();
        assert!(cache.is_assumed(&uid));
        assert_eq!(
            cache.assume(p, "n1"),
            Err(CacheError::AlreadyCached(uid.clone()))
        );
        let (usage, pods) = replay(&cache, 0);
        assert_eq!(
            (usage.requested.milli_cpu, usage.pod_count, pods),
            (500, 1, 1)
        );
        assert_eq!(usage.used_ports.len(), 1);

        cache.forget(&uid).unwrap();
        let (usage, pods) = replay(&cache, 0);
        assert_eq!(
            (usage.requested.milli_cpu, usage.pod_count, pods),
            (0, 0, 0)
        );
        assert!(usage.used_ports.is_empty());
        assert_eq!(cache.forget(&uid), Err(CacheError::NotAssumed(uid)));
    }

    #[test]
    fn a_host_port_two_pods_hold_goes_with_either_as_upstream() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        let (a, b) = (pod("a", "100m"), pod("b", "100m"));
        cache.set_bound_pod(a.clone(), "n1");
        cache.set_bound_pod(b, "n1");
        assert_eq!(replay(&cache, 0).0.used_ports.len(), 2);
        cache.remove_pod(&a.uid);
        let (usage, pods) = replay(&cache, 0);
        assert_eq!((usage.pod_count, pods), (1, 1));
        assert!(usage.used_ports.is_empty(), "{:?}", usage.used_ports);
    }

    #[test]
    fn the_informer_confirms_an_assumed_pod() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        let p = pod("web", "1");
        cache.assume(p.clone(), "n1").unwrap();
        let before = cache.seq();
        cache.set_bound_pod(p.clone(), "n1");
        assert!(!cache.is_assumed(&p.uid));
        assert_eq!(
            cache.seq(),
            before,
            "confirming changes nothing plugins see"
        );
        assert!(
            cache.forget(&p.uid).is_err(),
            "a confirmed pod cannot be forgotten"
        );
        assert_eq!(replay(&cache, 0).0.requested.milli_cpu, 1000);
    }

    #[test]
    fn a_pod_bound_elsewhere_moves_its_usage() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        cache.set_node(node("n2"));
        let p = pod("web", "1");
        cache.assume(p.clone(), "n1").unwrap();
        cache.set_bound_pod(p.clone(), "n2");
        assert_eq!(replay(&cache, 0).0.requested.milli_cpu, 0);
        assert_eq!(replay(&cache, 1).0.requested.milli_cpu, 1000);
        assert_eq!(cache.pod_node(&p.uid), Some("n2"));
    }

    #[test]
    fn two_pods_with_one_uid_are_never_merged() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        let first = pod("a", "1");
        let mut second = pod("b", "2");
        second.uid = first.uid.clone();
        cache.set_bound_pod(first.clone(), "n1");
        cache.set_bound_pod(second.clone(), "n1");
        let (usage, pods) = replay(&cache, 0);
        assert_eq!((usage.requested.milli_cpu, pods), (1000, 1), "a stays");
        assert_eq!(
            cache.assume(second, "n1"),
            Err(CacheError::AlreadyCached(first.uid.clone()))
        );
        assert_eq!(replay(&cache, 0).0.requested.milli_cpu, 1000);
    }

    #[test]
    fn pods_before_their_node_and_after_its_deletion() {
        let mut cache = Cache::default();
        cache.set_bound_pod(pod("early", "1"), "n1");
        assert_eq!(cache.snapshot().nodes.len(), 0, "no Node object yet");
        cache.set_node(node("n1"));
        let snapshot = cache.snapshot();
        assert_eq!(snapshot.nodes.len(), 1);
        assert_eq!(
            replay(&cache, 0).1,
            1,
            "the early pod is sent with its node"
        );

        cache.remove_node("n1");
        assert_eq!(cache.snapshot().nodes.len(), 0);
        cache.set_node(node("n1"));
        assert_eq!(
            replay(&cache, 0).0.requested.milli_cpu,
            1000,
            "its pods are still counted"
        );
    }

    #[test]
    fn namespaces_reach_plugins_only_when_their_labels_change() {
        let team = |labels: &str| {
            objects(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: team, labels: {{{labels}}}}}\n"
            ))
            .namespaces
            .remove(0)
        };
        let mut cache = Cache::default();
        cache.set_namespace(&team("team: a"));
        let seen = cache.seq();
        cache.set_namespace(&team("team: a"));
        assert_eq!(cache.seq(), seen, "an unchanged namespace is not logged");
        cache.set_namespace(&team("team: b"));
        let Catchup::Changes([Change::NamespaceSet(ns)]) = cache.catchup(Some(seen)) else {
            panic!("one namespace change expected");
        };
        assert_eq!(ns.labels, [("team".to_string(), "b".to_string())]);
        let Catchup::Full(full) = cache.catchup(None) else {
            panic!("a new instance gets the full state");
        };
        assert_eq!(full, [Change::NamespaceSet(ns.clone())]);
        let seen = cache.seq();
        cache.remove_namespace("team");
        cache.remove_namespace("team");
        assert!(matches!(
            cache.catchup(Some(seen)),
            Catchup::Changes([Change::NamespaceRemoved(name)]) if name == "team"
        ));
        let Catchup::Full(full) = cache.catchup(None) else {
            panic!("a new instance gets the full state");
        };
        assert!(full.is_empty());
    }

    #[test]
    fn instances_catch_up_from_the_log() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        let seen = cache.seq();
        cache.assume(pod("a", "1"), "n1").unwrap();
        match cache.catchup(Some(seen)) {
            Catchup::Changes(changes) => {
                assert!(matches!(changes[0], Change::PodAdded(_)));
                assert!(matches!(changes[1], Change::UsageSet(_)));
                assert_eq!(changes.len(), 2);
            }
            Catchup::Full(_) => panic!("the log still holds these changes"),
        }
        assert!(matches!(
            cache.catchup(Some(cache.seq())),
            Catchup::Changes([])
        ));
    }

    #[test]
    fn node_ids_are_reused_and_snapshots_follow_the_node_set() {
        let mut cache = Cache::default();
        cache.set_node(node("a"));
        cache.set_node(node("b"));
        let first = cache.snapshot();
        assert!(
            Arc::ptr_eq(&first, &cache.snapshot()),
            "unchanged nodes share a snapshot"
        );
        cache.remove_node("a");
        cache.set_node(node("c"));
        let snapshot = cache.snapshot();
        let names: Vec<_> = snapshot
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.id))
            .collect();
        assert_eq!(names, [("b", 1), ("c", 0)]);
        assert_eq!(snapshot.node(0).unwrap().name, "c");
    }

    #[test]
    fn what_if_changes_are_undone_by_their_reverse() {
        let mut cache = Cache::default();
        cache.set_node(node("n1"));
        let (a, b) = (pod("a", "1"), pod("b", "500m"));
        cache.set_bound_pod(a.clone(), "n1");
        let before = cache.node_usage("n1").unwrap();
        let (forward, back) = Cache::what_if(0, &before, &[&a], &[&b]);
        let Change::UsageSet((0, during)) = forward.last().unwrap() else {
            panic!("the usage comes last: {forward:?}");
        };
        assert_eq!(during.requested.milli_cpu, 500);
        assert_eq!(during.pod_count, 1);
        assert!(matches!(&forward[0], Change::PodRemoved(r) if r.uid == a.uid));
        assert!(matches!(&back[0], Change::PodAdded(p) if p.pod.uid == a.uid));
        assert!(matches!(&back[1], Change::PodRemoved(r) if r.uid == b.uid));
        assert_eq!(back.last(), Some(&Change::UsageSet((0, before))));
    }

    #[test]
    fn nominated_pods_count_for_pods_of_lower_or_equal_priority() {
        let mut cache = Cache::default();
        let mut high = pod("high", "1");
        high.uid = "high".into();
        high.priority = 100;
        cache.nominate(high.clone(), "n1");
        let mut low = pod("low", "1");
        low.uid = "low".into();
        low.priority = 10;
        assert_eq!(cache.nominated_for("n1", &low).count(), 1);
        assert_eq!(cache.nominated_for("n2", &low).count(), 0);
        // Not for itself, nor for a pod of higher priority.
        assert_eq!(cache.nominated_for("n1", &high).count(), 0);
        let mut higher = low.clone();
        higher.priority = 1000;
        assert_eq!(cache.nominated_for("n1", &higher).count(), 0);
        // An empty node name clears the nomination.
        cache.nominate(high, "");
        assert!(!cache.has_nominations());
    }
}

//! PodGroups (KEP-4671, `scheduling.k8s.io/v1beta1`) and the pods that
//! name them, kube-scheduler's PodGroupManager in small: which groups
//! exist with which policy, and which pods belong to each, so that the
//! GangScheduling plugin can count a group's pods (no plugin instance sees
//! every pod). Whether a member is scheduled is the cache's to say.

use crate::wit::{PodGroup, SchedulingPolicy};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::scheduling::v1beta1::PodGroup as PodGroupObject;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A group's namespace and name.
type Key = (String, String);

/// The groups known and their members.
#[derive(Debug, Default)]
pub struct PodGroups {
    /// Each PodGroup object, by key.
    objects: HashMap<Key, Arc<PodGroupObject>>,
    /// The uids of the pods naming each group, by key; a group may have
    /// members before its object exists.
    members: HashMap<Key, BTreeSet<String>>,
    /// Each member's group, by uid, to forget it by uid alone.
    group_of: HashMap<String, Key>,
}

/// `spec.schedulingGroup.podGroupName` of a pod, if it names a group.
pub fn group_name(pod: &core::Pod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .scheduling_group
        .as_ref()?
        .pod_group_name
        .as_deref()
}

/// A PodGroup's policy: `gang` when `spec.schedulingPolicy.gang` is set,
/// else `basic` (as upstream, which treats a group without a gang policy
/// as no constraint).
pub fn policy(object: &PodGroupObject) -> SchedulingPolicy {
    match &object.spec.scheduling_policy.gang {
        Some(gang) => SchedulingPolicy::Gang(gang.min_count),
        None => SchedulingPolicy::Basic,
    }
}

fn key_of(object: &PodGroupObject) -> Key {
    (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

impl PodGroups {
    /// A PodGroup was added or changed: the object it replaces, if any.
    pub fn set_group(&mut self, object: Arc<PodGroupObject>) -> Option<Arc<PodGroupObject>> {
        self.objects.insert(key_of(&object), object)
    }

    /// A PodGroup was deleted; its pods stay members should it come back.
    pub fn remove_group(&mut self, object: &PodGroupObject) {
        self.objects.remove(&key_of(object));
    }

    /// The policy of the group `namespace/name`, if it exists.
    pub fn policy_of(&self, namespace: &str, name: &str) -> Option<SchedulingPolicy> {
        self.objects
            .get(&(namespace.to_string(), name.to_string()))
            .map(|object| policy(object))
    }

    /// A pod was added or changed: it counts for the group it names (the
    /// field is immutable, so a pod never moves between groups).
    pub fn set_pod(&mut self, pod: &core::Pod) {
        let Some(name) = group_name(pod) else {
            return;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if self.group_of.contains_key(&uid) {
            return;
        }
        let key = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            name.to_string(),
        );
        self.members
            .entry(key.clone())
            .or_default()
            .insert(uid.clone());
        self.group_of.insert(uid, key);
    }

    /// A pod was deleted or finished: it no longer counts.
    pub fn remove_pod(&mut self, uid: &str) {
        let Some(key) = self.group_of.remove(uid) else {
            return;
        };
        if let Some(members) = self.members.get_mut(&key) {
            members.remove(uid);
            if members.is_empty() {
                self.members.remove(&key);
            }
        }
    }

    /// What GangScheduling learns of `pod`'s group; `placed` says of a
    /// member uid whether it is on a node, and whether only assumed there
    /// (`Some(true)`), or not placed (`None`). `None` for a pod that names
    /// no group.
    pub fn state_of(
        &self,
        pod: &core::Pod,
        placed: impl Fn(&str) -> Option<bool>,
    ) -> Option<PodGroup> {
        let name = group_name(pod)?;
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let key = (namespace, name.to_string());
        let mut group = PodGroup {
            policy: self.objects.get(&key).map(|object| policy(object)),
            all_pods: 0,
            scheduled_pods: 0,
            assumed_pods: Vec::new(),
            namespace: key.0.clone(),
            name: key.1.clone(),
        };
        for uid in self.members.get(&key).into_iter().flatten() {
            group.all_pods += 1;
            if let Some(assumed) = placed(uid) {
                group.scheduled_pods += 1;
                if assumed {
                    group.assumed_pods.push(uid.clone());
                }
            }
        }
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, group: Option<&str>) -> core::Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "spec": {
                "containers": [],
                "schedulingGroup": group.map(|g| serde_json::json!({"podGroupName": g})),
            },
        }))
        .unwrap()
    }

    fn group(min_count: Option<i32>) -> PodGroupObject {
        let policy = match min_count {
            Some(n) => serde_json::json!({"gang": {"minCount": n}}),
            None => serde_json::json!({"basic": {}}),
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "gang", "namespace": "default"},
            "spec": {"schedulingPolicy": policy},
        }))
        .unwrap()
    }

    #[test]
    fn counts_members_scheduled_and_assumed() {
        let mut groups = PodGroups::default();
        for uid in ["a", "b", "c"] {
            groups.set_pod(&pod(uid, Some("gang")));
        }
        groups.set_pod(&pod("lone", None));
        let placed = |uid: &str| match uid {
            "a" => Some(true),
            "b" => Some(false),
            _ => None,
        };
        let state = groups.state_of(&pod("c", Some("gang")), placed).unwrap();
        assert_eq!(state.policy, None, "no PodGroup object yet");
        assert_eq!((state.all_pods, state.scheduled_pods), (3, 2));
        assert_eq!(state.assumed_pods, ["a"]);
        assert!(groups.state_of(&pod("lone", None), placed).is_none());

        groups.set_group(Arc::new(group(Some(3))));
        groups.remove_pod("b");
        let state = groups.state_of(&pod("c", Some("gang")), placed).unwrap();
        assert_eq!(state.policy, Some(SchedulingPolicy::Gang(3)));
        assert_eq!((state.all_pods, state.scheduled_pods), (2, 1));
    }

    #[test]
    fn a_group_without_gang_policy_is_basic() {
        let mut groups = PodGroups::default();
        assert!(groups.set_group(Arc::new(group(None))).is_none());
        assert_eq!(
            groups.policy_of("default", "gang"),
            Some(SchedulingPolicy::Basic)
        );
        groups.remove_group(&group(None));
        assert_eq!(groups.policy_of("default", "gang"), None);
    }
}

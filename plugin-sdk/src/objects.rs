//! The objects a queueing hint is given, as the apiserver's JSON, decoded
//! into the records the policy already matches against: a Node's labels,
//! taints and `spec.unschedulable`, a Pod's node and host ports. Only these
//! fields are read; what a hint needs beyond them (a node's allocatable,
//! say) it reads from the [`Cluster`](crate::Cluster), which the host has
//! brought up to date with the event before it asks.

use crate::{HostPort, Labels, Node, Protocol, Resources, Taint, TaintEffect};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeObject {
    metadata: Meta,
    spec: NodeSpec,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NodeSpec {
    unschedulable: bool,
    taints: Vec<TaintObject>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TaintObject {
    key: String,
    value: String,
    effect: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodObject {
    spec: PodSpec,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PodSpec {
    node_name: String,
    containers: Vec<ContainerObject>,
    init_containers: Vec<ContainerObject>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ContainerObject {
    restart_policy: String,
    ports: Vec<PortObject>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct PortObject {
    host_port: i32,
    #[serde(rename = "hostIP")]
    host_ip: String,
    protocol: String,
}

fn pairs(map: BTreeMap<String, String>) -> Labels {
    map.into_iter().collect()
}

/// A Node object's name, labels, annotations, taints and
/// `spec.unschedulable`; its resources and images are left empty.
///
/// ```
/// let node = kws_plugin_sdk::objects::node(
///     r#"{"metadata": {"name": "n1", "labels": {"zone": "a"}},
///         "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}"#,
/// )?;
/// assert_eq!(node.name, "n1");
/// assert_eq!(node.taints[0].key, "gpu");
/// # Ok::<(), String>(())
/// ```
pub fn node(json: &str) -> Result<Node, String> {
    let object: NodeObject =
        serde_json::from_str(json).map_err(|e| format!("decoding a Node: {e}"))?;
    let taints = object
        .spec
        .taints
        .into_iter()
        .filter_map(|t| {
            let effect = match t.effect.as_str() {
                "NoSchedule" => TaintEffect::NoSchedule,
                "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
                "NoExecute" => TaintEffect::NoExecute,
                _ => return None,
            };
            Some(Taint {
                key: t.key,
                value: t.value,
                effect,
            })
        })
        .collect();
    Ok(Node {
        name: object.metadata.name,
        labels: pairs(object.metadata.labels),
        annotations: pairs(object.metadata.annotations),
        taints,
        unschedulable: object.spec.unschedulable,
        capacity: Resources::zero(),
        allocatable: Resources::zero(),
        images: Vec::new(),
    })
}

/// A Node event's node before (`None` when it was added) and after;
/// `None` when it was deleted.
pub fn node_change(
    old: Option<&str>,
    new: Option<&str>,
) -> Result<Option<(Option<Node>, Node)>, String> {
    let Some(new) = new else {
        return Ok(None);
    };
    Ok(Some((old.map(node).transpose()?, node(new)?)))
}

/// A Pod object's node (`spec.nodeName`, empty while unbound) and the host
/// ports it holds: its containers' and its sidecars' (restartable init
/// containers), as the host counts them on a node.
pub fn pod_host_ports(json: &str) -> Result<(String, Vec<HostPort>), String> {
    let object: PodObject =
        serde_json::from_str(json).map_err(|e| format!("decoding a Pod: {e}"))?;
    let spec = object.spec;
    let sidecars = spec
        .init_containers
        .into_iter()
        .filter(|c| c.restart_policy == "Always");
    let ports = spec
        .containers
        .into_iter()
        .chain(sidecars)
        .flat_map(|c| c.ports)
        .filter(|p| p.host_port > 0)
        .map(|p| HostPort {
            ip: if p.host_ip.is_empty() {
                "0.0.0.0".to_string()
            } else {
                p.host_ip
            },
            protocol: match p.protocol.as_str() {
                "UDP" => Protocol::Udp,
                "SCTP" => Protocol::Sctp,
                _ => Protocol::Tcp,
            },
            port: p.host_port,
        })
        .collect();
    Ok((spec.node_name, ports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_keeps_the_fields_hints_compare() {
        let n = node(
            r#"{"metadata": {"name": "n", "labels": {"a": "1"}},
                "spec": {"unschedulable": true, "taints": [
                    {"key": "k", "value": "v", "effect": "NoExecute"},
                    {"key": "odd", "effect": "Sometimes"}]},
                "status": {"allocatable": {"cpu": "4"}}}"#,
        )
        .unwrap();
        assert_eq!(n.labels, [("a".to_string(), "1".to_string())]);
        assert!(n.unschedulable);
        assert_eq!(
            n.taints.len(),
            1,
            "an effect the apiserver refuses is dropped"
        );
        assert_eq!(n.taints[0].effect, TaintEffect::NoExecute);
        assert!(node("\"n1\"").is_err());
    }

    #[test]
    fn a_pod_holds_its_containers_and_sidecars_ports() {
        let (node_name, ports) = pod_host_ports(
            r#"{"spec": {"nodeName": "n1",
                "initContainers": [
                    {"name": "s", "restartPolicy": "Always", "ports": [{"containerPort": 1, "hostPort": 9000}]},
                    {"name": "i", "ports": [{"containerPort": 1, "hostPort": 9001}]}],
                "containers": [{"name": "c", "ports": [
                    {"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1", "protocol": "UDP"},
                    {"containerPort": 81}]}]}}"#,
        )
        .unwrap();
        assert_eq!(node_name, "n1");
        let described: Vec<(String, i32)> = ports.iter().map(|p| (p.ip.clone(), p.port)).collect();
        assert_eq!(
            described,
            [
                ("10.0.0.1".to_string(), 8080),
                ("0.0.0.0".to_string(), 9000)
            ]
        );
        assert_eq!(ports[0].protocol, Protocol::Udp);
    }
}

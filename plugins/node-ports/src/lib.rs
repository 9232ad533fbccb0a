//! NodePorts: keeps a pod off nodes where a host port it asks for is
//! already taken, as kube-scheduler's plugin of the same name (v1.37).
//!
//! A port is the triple (host IP, protocol, port). `0.0.0.0` (what an empty
//! `hostIP` means) binds every address of the node, so it conflicts with the
//! same protocol and port on any address; a specific address conflicts with
//! itself and with `0.0.0.0`. TCP, UDP and SCTP never conflict with each
//! other.
//!
//! PreFilter collects the ports the pod asks for once per cycle, and
//! returns Skip for a pod with none, as upstream's: the Filter then never
//! runs for it.
//!
//! The ports counted are those of the containers and of restartable init
//! containers (sidecars), which hold their ports as long as the pod runs;
//! the host leaves other init containers' ports out of the pod record.

use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, HostPort, NoArgs,
    NodeInfo, Plugin, Pod, PreFilterResult, QueueingHint, RegisteredEvent, Status, objects,
};

/// The reason kube-scheduler reports.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// The address that binds every address of the node.
const ALL_ADDRESSES: &str = "0.0.0.0";

pub struct NodePorts;

impl Plugin for NodePorts {
    const NAME: &'static str = "NodePorts";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::EnqueueExtensions,
    ];
    const READS_PODS: bool = false;
    type Args = NoArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(EventResource::AssignedPod, &[ActionType::Delete]).with_hint(),
            RegisteredEvent::on(EventResource::Node, &[ActionType::Add]),
        ]
    }

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(NodePorts)
    }

    fn pre_filter(&self, pod: &Pod, _: &Cluster, state: &mut CycleState) -> PreFilterResult {
        let wanted = Wanted(wanted_ports(pod).cloned().collect());
        if wanted.0.is_empty() {
            return PreFilterResult::skip();
        }
        state.write(wanted);
        PreFilterResult::all()
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        fits(wanted_ports(pod), node)
    }

    fn queueing_hint(
        &self,
        pod: &Pod,
        _: &Cluster,
        _: &ClusterEvent,
        old: Option<&str>,
        _: Option<&str>,
    ) -> Result<QueueingHint, String> {
        match old {
            Some(deleted) => self.hint_for_deleted(pod, deleted),
            None => Ok(QueueingHint::Queue),
        }
    }

    fn filter_all(
        &self,
        pod: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        match state.read::<Wanted>() {
            Some(wanted) => nodes.iter().map(|n| fits(wanted.0.iter(), n)).collect(),
            None => nodes.iter().map(|n| self.filter(pod, n)).collect(),
        }
    }
}

impl NodePorts {
    /// Upstream's, for a deleted pod: only one that held a port the pod
    /// asks for can make room for it.
    fn hint_for_deleted(&self, pod: &Pod, deleted: &str) -> Result<QueueingHint, String> {
        let (node, held) = objects::pod_host_ports(deleted)?;
        let freed = !node.is_empty()
            && wanted_ports(pod).any(|want| held.iter().any(|taken| conflicts(want, taken)));
        Ok(if freed {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        })
    }
}

/// PreFilter's state: the host ports the pod asks for.
#[derive(Clone)]
struct Wanted(Vec<HostPort>);

/// Whether none of `wanted` collides with a port in use on `node`.
fn fits<'a>(mut wanted: impl Iterator<Item = &'a HostPort>, node: &NodeInfo) -> Status {
    let used = &node.usage.used_ports;
    if wanted.any(|want| used.iter().any(|taken| conflicts(want, taken))) {
        return Status::unschedulable(ERR_REASON);
    }
    Status::success()
}

/// The host ports the pod asks for: its containers' and its sidecars'.
fn wanted_ports(pod: &Pod) -> impl Iterator<Item = &HostPort> {
    pod.init_containers
        .iter()
        .chain(&pod.containers)
        .flat_map(|c| &c.host_ports)
        .filter(|p| p.port > 0)
}

/// Whether asking for `want` collides with `taken`, already in use.
fn conflicts(want: &HostPort, taken: &HostPort) -> bool {
    if want.port != taken.port || want.protocol != taken.protocol {
        return false;
    }
    let (want_ip, taken_ip) = (address(&want.ip), address(&taken.ip));
    want_ip == ALL_ADDRESSES || taken_ip == ALL_ADDRESSES || want_ip == taken_ip
}

/// An empty host IP binds every address, as upstream's sanitising does.
fn address(ip: &str) -> &str {
    if ip.is_empty() { ALL_ADDRESSES } else { ip }
}

kws_plugin_sdk::export_plugin!(NodePorts);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Code, Protocol, Runner};

    /// `"TCP/127.0.0.1/8080"`, as upstream's test table writes ports.
    fn port(spec: &str) -> HostPort {
        let parts: Vec<&str> = spec.split('/').collect();
        HostPort {
            protocol: match parts[0] {
                "TCP" => Protocol::Tcp,
                "UDP" => Protocol::Udp,
                "SCTP" => Protocol::Sctp,
                other => panic!("unknown protocol {other}"),
            },
            ip: parts[1].to_string(),
            port: parts[2].parse().unwrap(),
        }
    }

    fn pod_with(ports: &[&str]) -> Pod {
        let mut p = pod("default", "incoming");
        for spec in ports {
            let hp = port(spec);
            p = p.host_port_on(&hp.ip, hp.protocol, hp.port);
        }
        p.build()
    }

    fn verdict(incoming: Pod, existing: &[&str]) -> Status {
        let existing = pod_with(existing);
        let n = node_info(0, node("m1").build(), vec![existing]);
        NodePorts.filter(&incoming, &n)
    }

    /// Upstream's `TestNodePorts` table: (name, incoming, existing, fits).
    #[test]
    fn upstream_table() {
        let cases: &[(&str, &[&str], &[&str], bool)] = &[
            (
                "other port",
                &["UDP/127.0.0.1/8080"],
                &["UDP/127.0.0.1/9090"],
                true,
            ),
            (
                "same udp port",
                &["UDP/127.0.0.1/8080"],
                &["UDP/127.0.0.1/8080"],
                false,
            ),
            (
                "same tcp port",
                &["TCP/127.0.0.1/8080"],
                &["TCP/127.0.0.1/8080"],
                false,
            ),
            (
                "different host ip",
                &["TCP/127.0.0.1/8080"],
                &["TCP/127.0.0.2/8080"],
                true,
            ),
            (
                "different protocol",
                &["UDP/127.0.0.1/8080"],
                &["TCP/127.0.0.1/8080"],
                true,
            ),
            (
                "second udp port conflict",
                &["UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"],
                &["UDP/127.0.0.1/8080"],
                false,
            ),
            (
                "first tcp port conflict",
                &["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"],
                &["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"],
                false,
            ),
            (
                "first tcp port conflict due to 0.0.0.0 hostIP",
                &["TCP/0.0.0.0/8001"],
                &["TCP/127.0.0.1/8001"],
                false,
            ),
            (
                "TCP hostPort conflict due to 0.0.0.0 hostIP",
                &["TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"],
                &["TCP/127.0.0.1/8001"],
                false,
            ),
            (
                "second tcp port conflict to 0.0.0.0 hostIP",
                &["TCP/127.0.0.1/8001"],
                &["TCP/0.0.0.0/8001"],
                false,
            ),
            (
                "second different protocol",
                &["UDP/127.0.0.1/8001"],
                &["TCP/0.0.0.0/8001"],
                true,
            ),
            (
                "UDP hostPort conflict due to 0.0.0.0 hostIP",
                &["UDP/127.0.0.1/8001"],
                &["TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"],
                false,
            ),
            (
                "sctp against tcp",
                &["SCTP/0.0.0.0/9000"],
                &["TCP/0.0.0.0/9000"],
                true,
            ),
            (
                "same sctp port",
                &["SCTP/10.0.0.1/9000"],
                &["SCTP/0.0.0.0/9000"],
                false,
            ),
            (
                "empty host ip binds all",
                &["TCP//80"],
                &["TCP/10.0.0.1/80"],
                false,
            ),
        ];
        for (name, incoming, existing, fits) in cases {
            let status = verdict(pod_with(incoming), existing);
            if *fits {
                assert_eq!(status, Status::success(), "{name}");
            } else {
                assert_eq!(status.code, Code::Unschedulable, "{name}");
                assert_eq!(status.reasons, [ERR_REASON], "{name}");
            }
        }
    }

    #[test]
    fn a_pod_without_host_ports_is_skipped_at_pre_filter() {
        let mut runner = Runner::<NodePorts>::configured("{}").unwrap();
        let result = runner.pre_filter(1, &pod("default", "p").build());
        assert_eq!(result.status.code, Code::Skip);
        let result = runner.pre_filter(2, &pod_with(&["TCP/0.0.0.0/80"]));
        assert_eq!(result.status.code, Code::Success);
        assert_eq!(result.node_names, None);
    }

    #[test]
    fn a_sidecars_port_counts() {
        let sidecar = pod("default", "p")
            .init_container("sidecar", "envoy", vec![port("TCP/0.0.0.0/8001")])
            .build();
        let status = verdict(sidecar, &["TCP/0.0.0.0/8001"]);
        assert_eq!(status.code, Code::Unschedulable);
    }

    #[test]
    fn runs_through_the_runner() {
        let mut runner = Runner::<NodePorts>::configured("{}").unwrap();
        let taken = pod_with(&["TCP/0.0.0.0/80"]);
        runner.apply(vec![
            kws_plugin_sdk::Change::NodeSet((0, node("a").build())),
            kws_plugin_sdk::Change::NodeSet((1, node("b").build())),
        ]);
        runner.apply(vec![kws_plugin_sdk::Change::UsageSet((
            1,
            node_info(1, node("b").build(), vec![taken]).usage,
        ))]);
        let incoming = pod_with(&["TCP/10.1.1.1/80"]);
        runner.pre_filter(7, &incoming);
        let rejected = runner.filter(7, &incoming, &[0, 1]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].node, 1);
    }

    #[test]
    fn hints_queue_only_when_a_deleted_pod_held_a_wanted_port() {
        let deleted = ClusterEvent {
            resource: EventResource::AssignedPod,
            action: ActionType::Delete,
        };
        let held = |node: &str, port: i32| {
            format!(
                r#"{{"spec": {{"nodeName": "{node}", "containers": [{{"name": "c",
                    "ports": [{{"containerPort": 1, "hostPort": {port}}}]}}]}}}}"#
            )
        };
        let hint = |old: &str| {
            NodePorts
                .queueing_hint(
                    &pod_with(&["TCP/0.0.0.0/80"]),
                    &Cluster::default(),
                    &deleted,
                    Some(old),
                    None,
                )
                .unwrap()
        };
        assert_eq!(hint(&held("n1", 80)), QueueingHint::Queue);
        assert_eq!(hint(&held("n1", 81)), QueueingHint::Skip);
        assert_eq!(
            hint(&held("", 80)),
            QueueingHint::Skip,
            "an unbound pod held nothing"
        );
    }
}

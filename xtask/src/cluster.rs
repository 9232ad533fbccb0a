//! `cargo xtask cluster`: a large cluster file for `simulate`, shaped like
//! `kubectl get nodes,pods -o yaml` of a real cluster (labels, annotations,
//! capacity and allocatable, conditions, images, taints on some nodes;
//! owner references, requests and limits, tolerations and some node and
//! pod affinity and spreading on the pods), written to stdout. Every pod is
//! pending and names the `kube-wasm-scheduler` profile. The content depends
//! only on the arguments, so two runs give the same file.
//!
//! ```sh
//! cargo xtask cluster --nodes 20000 --pods 20000 > /tmp/cluster-20k.yaml
//! ```

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::io::Write as _;

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
const INSTANCE_TYPES: [(&str, u32, u32); 4] = [
    ("m5.xlarge", 4, 16),
    ("m5.2xlarge", 8, 32),
    ("c5.4xlarge", 16, 32),
    ("r5.4xlarge", 16, 128),
];
const APPS: [&str; 12] = [
    "web", "api", "cart", "search", "auth", "billing", "mail", "cache", "queue", "report", "media",
    "feed",
];

/// A fixed-seed generator (SplitMix64), enough to vary the objects.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// The arguments: `--nodes N --pods N [--list]`.
pub fn generate(args: &[String]) -> Result<()> {
    let mut nodes = 1000;
    let mut pods = 1000;
    let mut list = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--nodes" => nodes = number(args.next(), "--nodes")?,
            "--pods" => pods = number(args.next(), "--pods")?,
            "--list" => list = true,
            other => bail!("unknown argument `{other}` (cluster --nodes N --pods N [--list])"),
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write(&mut out, nodes, pods, list).context("writing the cluster to stdout")?;
    out.flush().context("writing the cluster to stdout")
}

fn number(value: Option<&String>, flag: &str) -> Result<usize> {
    value
        .with_context(|| format!("{flag} needs a number"))?
        .parse()
        .with_context(|| format!("{flag} needs a number"))
}

/// Writes the cluster: one document per object, or one `kind: List` as
/// `kubectl get -o yaml` prints it when `list`.
fn write(out: &mut impl std::io::Write, nodes: usize, pods: usize, list: bool) -> Result<()> {
    let mut rng = Rng(18);
    let mut text = String::new();
    let (start, indent) = if list {
        writeln!(out, "apiVersion: v1\nitems:")?;
        ("- ", "  ")
    } else {
        ("", "")
    };
    for i in 0..nodes {
        text.clear();
        node(&mut text, &mut rng, i);
        object(out, &text, start, indent, list)?;
    }
    for i in 0..pods {
        text.clear();
        pod(&mut text, &mut rng, i, nodes);
        object(out, &text, start, indent, list)?;
    }
    if list {
        writeln!(out, "kind: List\nmetadata:\n  resourceVersion: \"\"")?;
    }
    Ok(())
}

/// One object, as a document or as an item of the list.
fn object(
    out: &mut impl std::io::Write,
    text: &str,
    start: &str,
    indent: &str,
    list: bool,
) -> Result<()> {
    if !list {
        writeln!(out, "---")?;
    }
    for (n, line) in text.lines().enumerate() {
        let prefix = if n == 0 { start } else { indent };
        writeln!(out, "{prefix}{line}")?;
    }
    Ok(())
}

fn node(text: &mut String, rng: &mut Rng, i: usize) {
    let zone = ZONES[i % ZONES.len()];
    let (instance, cpu, memory_gi) = INSTANCE_TYPES[rng.below(4) as usize];
    let pool = ["general", "compute", "memory", "spot"][rng.below(4) as usize];
    let _ = write!(
        text,
        r#"apiVersion: v1
kind: Node
metadata:
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    volumes.kubernetes.io/controller-managed-attach-detach: "true"
  creationTimestamp: "2026-11-02T08:{m:02}:{s:02}Z"
  labels:
    beta.kubernetes.io/arch: amd64
    beta.kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: node-{i:05}
    kubernetes.io/os: linux
    node.kubernetes.io/instance-type: {instance}
    pool: {pool}
    topology.kubernetes.io/region: eu-west-1
    topology.kubernetes.io/zone: {zone}
  name: node-{i:05}
  resourceVersion: "{rv}"
spec:
  podCIDR: 10.{a}.{b}.0/24
  providerID: aws:///eu-west-1a/i-{id:017x}
"#,
        m = i / 60 % 60,
        s = i % 60,
        rv = 1000 + i,
        a = 64 + i / 256 % 64,
        b = i % 256,
        id = i * 7919,
    );
    match rng.below(10) {
        0 => {
            text.push_str("  taints:\n  - effect: NoSchedule\n    key: dedicated\n    value: gpu\n")
        }
        1 | 2 => text.push_str(
            "  taints:\n  - effect: PreferNoSchedule\n    key: spot\n    value: \"true\"\n",
        ),
        _ => {}
    }
    let _ = write!(
        text,
        r#"status:
  allocatable:
    cpu: {acpu}m
    ephemeral-storage: "95551679124"
    memory: {amem}Ki
    pods: "110"
  capacity:
    cpu: "{cpu}"
    ephemeral-storage: 103678556Ki
    memory: {cmem}Ki
    pods: "110"
  conditions:
  - lastHeartbeatTime: "2026-12-03T08:00:00Z"
    lastTransitionTime: "2026-11-02T08:00:00Z"
    message: kubelet is posting ready status
    reason: KubeletReady
    status: "True"
    type: Ready
  images:
  - names:
    - registry.k8s.io/kube-proxy@sha256:{h1:064x}
    - registry.k8s.io/kube-proxy:v1.37.0
    sizeBytes: 30221478
  - names:
    - docker.io/library/{app}@sha256:{h2:064x}
    - docker.io/library/{app}:1.{v}
    sizeBytes: {size}
"#,
        acpu = cpu * 1000 - 100,
        amem = memory_gi as usize * 1024 * 1024 - 512 * 1024,
        cmem = memory_gi as usize * 1024 * 1024,
        h1 = 0x1234_5678u64,
        h2 = i as u64 * 31 + 7,
        app = APPS[i % APPS.len()],
        v = i % 7,
        size = 50_000_000 + i * 1000,
    );
}

fn pod(text: &mut String, rng: &mut Rng, i: usize, nodes: usize) {
    let app = APPS[i % APPS.len()];
    let namespace = ["default", "shop", "batch", "media"][i % 4];
    let cpu = [100, 250, 500, 1000][rng.below(4) as usize];
    let memory = [128, 256, 512, 1024][rng.below(4) as usize];
    let _ = write!(
        text,
        r#"apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubectl.kubernetes.io/restartedAt: "2026-12-01T10:00:00Z"
  generateName: {app}-7d9f8b6c5-
  labels:
    app: {app}
    pod-template-hash: 7d9f8b6c5
    tier: {tier}
  name: {app}-7d9f8b6c5-{i:06}
  namespace: {namespace}
  ownerReferences:
  - apiVersion: apps/v1
    blockOwnerDeletion: true
    controller: true
    kind: ReplicaSet
    name: {app}-7d9f8b6c5
    uid: 5a1c2e3f-0000-4000-8000-{owner:012x}
spec:
  containers:
  - image: docker.io/library/{app}:1.{v}
    imagePullPolicy: IfNotPresent
    name: {app}
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
    resources:
      limits:
        cpu: {limit}m
        memory: {memory}Mi
      requests:
        cpu: {cpu}m
        memory: {memory}Mi
  schedulerName: kube-wasm-scheduler
  tolerations:
  - effect: PreferNoSchedule
    key: spot
    operator: Equal
    value: "true"
"#,
        tier = if i.is_multiple_of(3) {
            "backend"
        } else {
            "frontend"
        },
        owner = i % APPS.len(),
        v = i % 7,
        limit = cpu * 2,
    );
    match rng.below(20) {
        0 | 1 => {
            let _ = write!(
                text,
                r#"  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: topology.kubernetes.io/zone
            operator: In
            values:
            - {zone}
"#,
                zone = ZONES[i % ZONES.len()],
            );
        }
        2 => {
            let _ = write!(
                text,
                r#"  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - podAffinityTerm:
          labelSelector:
            matchLabels:
              app: {app}
          topologyKey: kubernetes.io/hostname
        weight: 50
"#,
            );
        }
        3 => {
            let _ = write!(
                text,
                r#"  topologySpreadConstraints:
  - labelSelector:
      matchLabels:
        app: {app}
    maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
"#,
            );
        }
        _ => {}
    }
    if nodes > 0 && rng.below(10) == 0 {
        let _ = writeln!(
            text,
            "  nodeSelector:\n    pool: {}",
            ["general", "compute", "memory"][i % 3]
        );
    }
    text.push_str("status:\n  phase: Pending\n  qosClass: Burstable\n");
}

//! ImageLocality: prefers nodes that already have the pod's container
//! images, weighted by image size and discounted for images that are on many
//! nodes, as kube-scheduler's plugin of the same name (v1.37). Score only,
//! 0..=100, no normalisation, default weight 1.
//!
//! For each container and init container whose image the node lists, the
//! node earns `size * nodes with the image / all nodes` (an image on every
//! node earns its full size, and so does not tell nodes apart much; one on
//! a few nodes little, so that pods do not all pile onto them). The sum is
//! clamped to `[23 MiB, 1000 MiB * number of containers]` and mapped
//! linearly onto 0..=100, truncating.
//!
//! Image names: the pod's image gets `:latest` appended when it has no tag
//! (no `:` after the last `/`), and is then compared exactly with the names
//! the node reports (`status.images[].names`). So `nginx` matches a node's
//! `nginx:latest` but not `docker.io/library/nginx:latest`, as upstream;
//! kubelets usually report the fully qualified name, so pods that want to
//! benefit should name images the same way.
//!
//! The size is the one the node itself reports for the name (upstream's
//! snapshot does the same); "all nodes" counts every node of the cluster,
//! feasible or not.
//!
//! Not modelled, for want of data in the WIT: image volumes
//! (`volumes[].image.reference`), which upstream counts like containers.

use kws_plugin_sdk::{
    Cluster, CycleState, ExtensionPoint, MAX_NODE_SCORE, NoArgs, NodeInfo, Plugin, Pod,
};

const MB: i64 = 1024 * 1024;
/// Below this a node's image score counts as nothing.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// The most one container's image can count for.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

impl Plugin for ImageLocality {
    const NAME: &'static str = "ImageLocality";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[ExtensionPoint::Score];
    const READS_PODS: bool = false;
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(ImageLocality)
    }

    /// A node's score weighs each image by how many nodes have it, so it
    /// needs the whole cluster.
    fn score_all(
        &self,
        pod: &Pod,
        cluster: &Cluster,
        nodes: &[&NodeInfo],
        _state: &CycleState,
    ) -> Result<Vec<i64>, String> {
        Ok(nodes.iter().map(|node| score(pod, node, cluster)).collect())
    }
}

/// One node's score: the images it has, each weighed by its size and by
/// the share of nodes that have it, scaled to 0..=100.
fn score(pod: &Pod, node: &NodeInfo, cluster: &Cluster) -> i64 {
    let total_nodes = cluster.len();
    let containers = pod.init_containers.iter().chain(&pod.containers);
    let mut sum = 0i64;
    let mut count = 0i64;
    for container in containers {
        count += 1;
        let name = normalized_image_name(&container.image);
        if let Some(size) = image_size(node, &name) {
            sum += scaled_image_score(size, cluster.nodes_with_image(&name), total_nodes);
        }
    }
    priority(sum, count)
}

/// `name:latest` when `name` has no tag, else `name` as it is.
pub fn normalized_image_name(name: &str) -> String {
    let last_colon = name.rfind(':');
    let last_slash = name.rfind('/');
    // Go's LastIndex gives -1 when absent: no colon never beats a slash.
    if last_colon.map_or(-1, |i| i as i64) <= last_slash.map_or(-1, |i| i as i64) {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// The size the node reports for an image it lists under `name`; if several
/// of its images carry the name, the last one's, as upstream's map keeps.
fn image_size(node: &NodeInfo, name: &str) -> Option<i64> {
    node.node
        .images
        .iter()
        .rev()
        .find(|image| image.names.iter().any(|n| n == name))
        .map(|image| image.size_bytes)
}

/// An image's size, discounted by the share of nodes that have it.
fn scaled_image_score(size: i64, nodes_with_image: usize, total_nodes: usize) -> i64 {
    let spread = nodes_with_image as f64 / total_nodes as f64;
    (size as f64 * spread) as i64
}

/// The sum clamped to the thresholds and mapped onto 0..=100.
fn priority(sum: i64, containers: i64) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD * containers;
    let clamped = if sum < MIN_THRESHOLD {
        MIN_THRESHOLD
    } else if sum > max_threshold {
        max_threshold
    } else {
        sum
    };
    MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
}

kws_plugin_sdk::export_plugin!(ImageLocality);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, pod};
    use kws_plugin_sdk::{Change, Node, Runner};

    /// A node listing `(names, size in MiB)`.
    fn image_node(name: &str, images: &[(&[&str], i64)]) -> Node {
        images
            .iter()
            .fold(node(name), |n, (names, mb)| n.images(names, mb * MB))
            .build()
    }

    fn containers(images: &[&str]) -> Pod {
        let mut p = pod("default", "p").image(images[0]);
        for (i, image) in images.iter().enumerate().skip(1) {
            p = p.container(&format!("c{i}"), image);
        }
        p.build()
    }

    fn scores(incoming: &Pod, nodes: Vec<Node>) -> Vec<i64> {
        let mut runner = Runner::<ImageLocality>::configured("{}").unwrap();
        let ids: Vec<u32> = (0..nodes.len() as u32).collect();
        runner.apply(
            nodes
                .into_iter()
                .enumerate()
                .map(|(i, n)| Change::NodeSet((i as u32, n)))
                .collect(),
        );
        runner.score(0, incoming, &ids).unwrap()
    }

    fn node403002000() -> Node {
        image_node(
            "node1",
            &[
                (&["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40),
                (&["gcr.io/300:latest", "gcr.io/300:v1"], 300),
                (&["gcr.io/2000:latest"], 2000),
            ],
        )
    }

    fn node25010() -> Node {
        image_node(
            "node2",
            &[
                (&["gcr.io/250:latest"], 250),
                (&["gcr.io/10:latest", "gcr.io/10:v1"], 10),
            ],
        )
    }

    fn node60040900() -> Node {
        image_node(
            "node1",
            &[
                (&["gcr.io/600:latest"], 600),
                (&["gcr.io/40:latest"], 40),
                (&["gcr.io/900:latest"], 900),
            ],
        )
    }

    fn node300600900() -> Node {
        image_node(
            "node2",
            &[
                (&["gcr.io/300:latest"], 300),
                (&["gcr.io/600:latest"], 600),
                (&["gcr.io/900:latest"], 900),
            ],
        )
    }

    fn node400030() -> Node {
        image_node(
            "node1",
            &[(&["gcr.io/4000:latest"], 4000), (&["gcr.io/30:latest"], 30)],
        )
    }

    fn node203040() -> Node {
        image_node(
            "node1",
            &[
                (&["gcr.io/20:latest"], 20),
                (&["gcr.io/30:latest"], 30),
                (&["gcr.io/40:latest"], 40),
            ],
        )
    }

    // The cases of upstream's TestImageLocalityPriority (v1.37.2) that need
    // no image volume, with the scores it expects.

    #[test]
    fn prefers_the_node_with_the_larger_image() {
        let p = containers(&["gcr.io/40", "gcr.io/250"]);
        assert_eq!(scores(&p, vec![node403002000(), node25010()]), [0, 5]);
    }

    #[test]
    fn prefers_the_node_with_both_images() {
        let p = containers(&["gcr.io/40", "gcr.io/300"]);
        assert_eq!(scores(&p, vec![node403002000(), node25010()]), [7, 0]);
    }

    #[test]
    fn sizes_past_the_limit_count_as_the_limit() {
        let p = containers(&["gcr.io/10", "gcr.io/4000"]);
        assert_eq!(scores(&p, vec![node400030(), node25010()]), [100, 0]);
        // A third node without images lowers the spread of every image.
        let empty = node("node3").build();
        assert_eq!(
            scores(&p, vec![node400030(), node25010(), empty]),
            [66, 0, 0]
        );
    }

    #[test]
    fn several_large_images() {
        let p = containers(&["gcr.io/300", "gcr.io/600", "gcr.io/900"]);
        let empty = node("node3").build();
        assert_eq!(
            scores(&p, vec![node60040900(), node300600900(), empty]),
            [32, 36, 0]
        );
    }

    #[test]
    fn several_small_images() {
        let p = containers(&["gcr.io/30", "gcr.io/40"]);
        assert_eq!(scores(&p, vec![node203040(), node400030()]), [1, 0]);
    }

    #[test]
    fn two_containers() {
        let p = containers(&["gcr.io/30", "gcr.io/300"]);
        assert_eq!(scores(&p, vec![node300600900(), node400030()]), [6, 0]);
    }

    #[test]
    fn init_containers_count() {
        let p = pod("default", "p")
            .image("gcr.io/30")
            .init_container("init", "gcr.io/300", vec![])
            .build();
        assert_eq!(scores(&p, vec![node403002000(), node203040()]), [6, 0]);
    }

    #[test]
    fn names_get_latest_only_when_untagged() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.27"), "nginx:1.27");
        assert_eq!(
            normalized_image_name("localhost:5000/nginx"),
            "localhost:5000/nginx:latest"
        );
        assert_eq!(
            normalized_image_name("localhost:5000/nginx:1"),
            "localhost:5000/nginx:1"
        );
        assert_eq!(
            normalized_image_name("nginx@sha256:0123"),
            "nginx@sha256:0123"
        );
    }

    #[test]
    fn short_names_do_not_match_qualified_ones() {
        let qualified = image_node("node1", &[(&["docker.io/library/nginx:latest"], 500)]);
        let short = image_node("node2", &[(&["nginx:latest"], 500)]);
        let p = containers(&["nginx"]);
        // 500 MiB on 1 of 2 nodes: 250 MiB -> 100 * (250 - 23) / (1000 - 23).
        assert_eq!(scores(&p, vec![qualified, short]), [0, 23]);
        let p = containers(&["docker.io/library/nginx"]);
        let qualified = image_node("node1", &[(&["docker.io/library/nginx:latest"], 500)]);
        let short = image_node("node2", &[(&["nginx:latest"], 500)]);
        assert_eq!(scores(&p, vec![qualified, short]), [23, 0]);
    }
}

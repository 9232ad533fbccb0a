//! LabelZone, the example policy every language implements the same way
//! (see `plugins/examples/README.md`).
//!
//! - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits
//!   only nodes that carry a label `KEY` (any value).
//! - Score: a pod annotated `example.kws.dev/zone: ZONE` prefers nodes whose
//!   `zone` label is `ZONE`. The scores come from the plugin's args:
//!   `sameZone` (default 100) for a node in the pod's zone, `otherZone`
//!   (default 0) for a node in another zone, `noZone` (default 0) for a node
//!   without a `zone` label. A pod without the annotation scores 0 everywhere.
//! - A pod annotated `example.kws.dev/fail: MESSAGE` makes Filter panic with
//!   MESSAGE: what the host does with a plugin's fault (docs/plugins.md,
//!   "Faults").
//!
//! Start a Rust policy of your own from this crate: copy the folder, rename
//! the package, add it to the workspace members, and `cargo xtask examples`
//! (or `cargo xtask plugins` once it lives under `plugins/`) builds it.

use kws_plugin_sdk::{ExtensionPoint, NodeInfo, Plugin, Pod, Status, host, lookup};
use serde::Deserialize;

/// The annotation naming the label a node must carry.
pub const REQUIRED_LABEL: &str = "example.kws.dev/required-label";
/// The annotation naming the zone a pod prefers.
pub const ZONE: &str = "example.kws.dev/zone";
/// The node label holding a node's zone.
pub const ZONE_LABEL: &str = "zone";
/// The annotation that makes Filter panic with its value.
pub const FAIL: &str = "example.kws.dev/fail";

/// LabelZone's `pluginConfig` args.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelZoneArgs {
    pub same_zone: i64,
    pub other_zone: i64,
    pub no_zone: i64,
}

impl Default for LabelZoneArgs {
    fn default() -> Self {
        LabelZoneArgs {
            same_zone: 100,
            other_zone: 0,
            no_zone: 0,
        }
    }
}

pub struct LabelZone {
    args: LabelZoneArgs,
}

impl Plugin for LabelZone {
    const NAME: &'static str = "LabelZone";
    const EXTENSION_POINTS: &'static [ExtensionPoint] =
        &[ExtensionPoint::Filter, ExtensionPoint::Score];
    type Args = LabelZoneArgs;

    fn new(args: LabelZoneArgs) -> Result<Self, String> {
        for (field, value) in [
            ("sameZone", args.same_zone),
            ("otherZone", args.other_zone),
            ("noZone", args.no_zone),
        ] {
            if !(0..=100).contains(&value) {
                return Err(format!("invalid args: {field}: {value} is not in 0..=100"));
            }
        }
        host::info(&format!(
            "scores: same zone {}, other zone {}, no zone {}",
            args.same_zone, args.other_zone, args.no_zone
        ));
        Ok(LabelZone { args })
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if let Some(message) = lookup(&pod.annotations, FAIL) {
            panic!("{message}");
        }
        match lookup(&pod.annotations, REQUIRED_LABEL) {
            Some(key) if node.label(key).is_none() => {
                Status::unresolvable(format!("node(s) didn't have label {key}"))
            }
            _ => Status::success(),
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        let Some(zone) = lookup(&pod.annotations, ZONE) else {
            return Ok(0);
        };
        Ok(match node.label(ZONE_LABEL) {
            Some(z) if z == zone => self.args.same_zone,
            Some(_) => self.args.other_zone,
            None => self.args.no_zone,
        })
    }
}

kws_plugin_sdk::export_plugin!(LabelZone);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Code, Runner};

    fn plugin(args: &str) -> LabelZone {
        LabelZone::new(serde_json::from_str(args).unwrap()).unwrap()
    }

    #[test]
    fn a_required_label_keeps_pods_off_nodes_without_it() {
        let p = pod("d", "p").annotation(REQUIRED_LABEL, "gpu").build();
        let with = node_info(0, node("a").label("gpu", "").build(), vec![]);
        let without = node_info(1, node("b").label("zone", "x").build(), vec![]);
        let lz = plugin("{}");
        assert!(lz.filter(&p, &with).passes());
        let status = lz.filter(&p, &without);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, ["node(s) didn't have label gpu"]);
        assert!(lz.filter(&pod("d", "q").build(), &without).passes());
    }

    #[test]
    fn zones_score_from_the_args() {
        let lz = plugin(r#"{"sameZone": 90, "otherZone": 30, "noZone": 10}"#);
        let p = pod("d", "p").annotation(ZONE, "east").build();
        let score = |n| lz.score(&p, &node_info(0, n, vec![])).unwrap();
        assert_eq!(score(node("a").label("zone", "east").build()), 90);
        assert_eq!(score(node("b").label("zone", "west").build()), 30);
        assert_eq!(score(node("c").build()), 10);
        let unzoned = pod("d", "q").build();
        let n = node_info(0, node("a").label("zone", "east").build(), vec![]);
        assert_eq!(lz.score(&unzoned, &n), Ok(0));
    }

    #[test]
    #[should_panic(expected = "told to fail")]
    fn the_fail_annotation_panics() {
        let p = pod("d", "p").annotation(FAIL, "told to fail").build();
        plugin("{}").filter(&p, &node_info(0, node("a").build(), vec![]));
    }

    #[test]
    fn args_out_of_range_or_unknown_are_refused() {
        let Err(e) = Runner::<LabelZone>::configured(r#"{"sameZone": 150}"#) else {
            panic!("accepted");
        };
        assert_eq!(e, "invalid args: sameZone: 150 is not in 0..=100");
        let Err(e) = Runner::<LabelZone>::configured(r#"{"bogus": 1}"#) else {
            panic!("accepted");
        };
        assert!(e.starts_with("invalid args: unknown field `bogus`"), "{e}");
    }
}

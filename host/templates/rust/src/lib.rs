//! {{Name}}: a kube-wasm-scheduler placement policy.
//!
//! - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits
//!   only nodes that carry a label `KEY` (any value).
//! - Score: a node labelled `disk: ssd` scores `preferred` (an arg, 0 to
//!   100, default 100); every other node scores 0.
//!
//! Build: `kube-wasm-scheduler plugin build`; try it on the scenario:
//! `kube-wasm-scheduler plugin test . --cluster scenario.yaml --expect
//! expected.txt`; unit tests: `cargo test`.

use kws_plugin_sdk::{ExtensionPoint, NodeInfo, Plugin, Pod, Status, lookup};
use serde::Deserialize;

/// The annotation naming the label a node must carry.
pub const REQUIRED_LABEL: &str = "example.kws.dev/required-label";
/// The node label, and its value, that the policy prefers.
pub const PREFERRED_LABEL: (&str, &str) = ("disk", "ssd");

/// The `pluginConfig` args: unknown fields and wrong types are refused by
/// serde, values out of range by [`{{Name}}::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Args {
    pub preferred: i64,
}

impl Default for Args {
    fn default() -> Self {
        Args { preferred: 100 }
    }
}

pub struct {{Name}} {
    args: Args,
}

impl Plugin for {{Name}} {
    const NAME: &'static str = "{{Name}}";
    const EXTENSION_POINTS: &'static [ExtensionPoint] =
        &[ExtensionPoint::Filter, ExtensionPoint::Score];
    type Args = Args;

    /// An `Err` refuses the configuration: the scheduler does not start
    /// with it, and prints the message.
    fn new(args: Args) -> Result<Self, String> {
        if !(0..=100).contains(&args.preferred) {
            return Err(format!(
                "invalid args: preferred: {} is not in 0..=100",
                args.preferred
            ));
        }
        Ok({{Name}} { args })
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        match lookup(&pod.annotations, REQUIRED_LABEL) {
            Some(key) if node.label(key).is_none() => {
                Status::unresolvable(format!("node(s) didn't have label {key}"))
            }
            _ => Status::success(),
        }
    }

    fn score(&self, _pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        let (key, value) = PREFERRED_LABEL;
        Ok(if node.label(key) == Some(value) {
            self.args.preferred
        } else {
            0
        })
    }
}

kws_plugin_sdk::export_plugin!({{Name}});

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Code, Runner};

    fn plugin(args: &str) -> {{Name}} {
        {{Name}}::new(serde_json::from_str(args).unwrap()).unwrap()
    }

    #[test]
    fn a_required_label_keeps_pods_off_nodes_without_it() {
        let p = pod("d", "p").annotation(REQUIRED_LABEL, "gpu").build();
        let with = node_info(0, node("a").label("gpu", "t4").build(), vec![]);
        let without = node_info(1, node("b").build(), vec![]);
        let policy = plugin("{}");
        assert!(policy.filter(&p, &with).passes());
        let status = policy.filter(&p, &without);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, ["node(s) didn't have label gpu"]);
    }

    #[test]
    fn the_preferred_label_scores_the_arg() {
        let policy = plugin(r#"{"preferred": 70}"#);
        let p = pod("d", "p").build();
        let (key, value) = PREFERRED_LABEL;
        let preferred = node_info(0, node("a").label(key, value).build(), vec![]);
        let other = node_info(1, node("b").build(), vec![]);
        assert_eq!(policy.score(&p, &preferred), Ok(70));
        assert_eq!(policy.score(&p, &other), Ok(0));
    }

    #[test]
    fn bad_args_are_refused() {
        let Err(e) = Runner::<{{Name}}>::configured(r#"{"preferred": 150}"#) else {
            panic!("accepted");
        };
        assert_eq!(e, "invalid args: preferred: 150 is not in 0..=100");
        assert!(Runner::<{{Name}}>::configured(r#"{"bogus": 1}"#).is_err());
    }
}

//! `PodTopologySpreadArgs` in kube-scheduler's JSON shape
//! (`kubescheduler.config.k8s.io/v1`), checked as
//! `ValidatePodTopologySpreadArgs` checks them.
//!
//! `defaultingType` defaults to `System` (kube-scheduler's v1 defaulting):
//! zone spreading with maxSkew 5 and hostname spreading with maxSkew 3,
//! both ScheduleAnyway. Default constraints take their selector from the
//! Services, ReplicationControllers, ReplicaSets and StatefulSets that
//! select the pod (see the crate docs).

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTopologySpreadArgs {
    #[serde(default)]
    pub default_constraints: Vec<DefaultConstraint>,
    #[serde(default)]
    pub defaulting_type: Option<String>,
}

/// A `v1.TopologySpreadConstraint` as default constraints spell it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultConstraint {
    #[serde(default)]
    pub max_skew: i32,
    #[serde(default)]
    pub topology_key: String,
    #[serde(default)]
    pub when_unsatisfiable: String,
    #[serde(default)]
    pub label_selector: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub min_domains: Option<i32>,
    #[serde(default)]
    pub node_affinity_policy: Option<String>,
    #[serde(default)]
    pub node_taints_policy: Option<String>,
    #[serde(default)]
    pub match_label_keys: Vec<String>,
}

impl PodTopologySpreadArgs {
    /// Whether the System default constraints apply (`defaultingType`
    /// unset or `System`); otherwise `defaultConstraints` do.
    pub fn is_system_defaulting(&self) -> bool {
        self.defaulting_type() == "System"
    }

    /// `defaultingType` after v1 defaulting: unset or empty is `System`.
    fn defaulting_type(&self) -> &str {
        match self.defaulting_type.as_deref() {
            None | Some("") => "System",
            Some(t) => t,
        }
    }

    /// Checks the args; the error lists every problem, as upstream's
    /// aggregate does.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        match self.defaulting_type() {
            "System" if !self.default_constraints.is_empty() => errors.push(
                "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty"
                    .to_string(),
            ),
            "System" | "List" => {}
            other => errors.push(format!(
                "defaultingType: Unsupported value: \"{other}\": supported values: \"System\", \"List\""
            )),
        }
        for (i, c) in self.default_constraints.iter().enumerate() {
            let path = format!("defaultConstraints[{i}]");
            if c.max_skew <= 0 {
                errors.push(format!(
                    "{path}.maxSkew: Invalid value: {}: not in valid range (0, inf)",
                    c.max_skew
                ));
            }
            if c.topology_key.is_empty() {
                errors.push(format!(
                    "{path}.topologyKey: Required value: can not be empty"
                ));
            }
            if !matches!(
                c.when_unsatisfiable.as_str(),
                "DoNotSchedule" | "ScheduleAnyway"
            ) {
                errors.push(format!(
                    "{path}.whenUnsatisfiable: Unsupported value: \"{}\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\"",
                    c.when_unsatisfiable
                ));
            }
            if c.label_selector.is_some() {
                errors.push(format!(
                    "{path}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
                ));
            }
            let repeated = self.default_constraints[..i].iter().any(|earlier| {
                earlier.topology_key == c.topology_key
                    && earlier.when_unsatisfiable == c.when_unsatisfiable
            });
            if repeated {
                errors.push(format!(
                    "{path}: Duplicate value: \"{{{}, {}}}\"",
                    c.topology_key, c.when_unsatisfiable
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else if errors.len() == 1 {
            Err(errors.remove(0))
        } else {
            Err(format!("[{}]", errors.join(", ")))
        }
    }
}

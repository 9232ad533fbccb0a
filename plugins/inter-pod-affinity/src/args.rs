//! `InterPodAffinityArgs` in kube-scheduler's JSON shape
//! (`kubescheduler.config.k8s.io/v1`).

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterPodAffinityArgs {
    /// The score an existing pod's required affinity term adds when the
    /// incoming pod matches it; 1 when unset, 0 to 100.
    #[serde(default)]
    pub hard_pod_affinity_weight: Option<i32>,
    /// Leave existing pods' preferred terms out of scoring, unless the
    /// incoming pod has preferred terms of its own.
    #[serde(default)]
    pub ignore_preferred_terms_of_existing_pods: bool,
}

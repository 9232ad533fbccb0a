//! The DefaultStorageClass admission plugin, as the embedded cluster's
//! reader applies it: a PersistentVolumeClaim that names no class gets the
//! cluster's default StorageClass, as the apiserver gives it on create
//! (`plugin/pkg/admission/storage/storageclass/setdefault`). Without it, a
//! claim written for a cluster with a default class would read as one
//! with no class, which VolumeBinding takes for an unbound Immediate claim
//! where kube-scheduler would see a WaitForFirstConsumer one.

use crate::volumes::VolumeObject;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use std::sync::Arc;

/// The annotation that makes a StorageClass the default.
const IS_DEFAULT: &str = "storageclass.kubernetes.io/is-default-class";
/// Its beta spelling, which upstream still honours.
const BETA_IS_DEFAULT: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// The beta class annotation of a claim: a claim carrying it has a class
/// even without `spec.storageClassName` (`PersistentVolumeClaimHasClass`).
const BETA_CLAIM_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// Gives every claim of `storage` that names no class (no
/// `storageClassName`, which differs from `""`, "no class", and no beta
/// class annotation) the default class, when there is one.
///
/// The apiserver decides at the claim's creation, from the classes that
/// exist then; a file has no order of creation, so every class of the file
/// counts, as the oracle (`tests/oracle/scenario.go`) counts them.
pub fn admit_claims(storage: &mut [VolumeObject]) {
    let Some(default) = default_class(storage.iter().filter_map(|o| match o {
        VolumeObject::StorageClass(class) => Some(class.as_ref()),
        _ => None,
    })) else {
        return;
    };
    for object in storage {
        if let VolumeObject::Claim(claim) = object
            && !has_class(claim)
        {
            Arc::make_mut(claim)
                .spec
                .get_or_insert_default()
                .storage_class_name = Some(default.clone());
        }
    }
}

/// Upstream's `GetDefaultClass`: of the classes annotated default, the
/// newest, then the first by name.
fn default_class<'a>(classes: impl Iterator<Item = &'a StorageClass>) -> Option<String> {
    classes
        .filter(|class| {
            class.metadata.annotations.as_ref().is_some_and(|a| {
                [IS_DEFAULT, BETA_IS_DEFAULT]
                    .iter()
                    .any(|key| a.get(*key).is_some_and(|v| v == "true"))
            })
        })
        .min_by(|a, b| {
            b.metadata
                .creation_timestamp
                .cmp(&a.metadata.creation_timestamp)
                .then_with(|| a.metadata.name.cmp(&b.metadata.name))
        })
        .and_then(|class| class.metadata.name.clone())
}

/// Upstream's `PersistentVolumeClaimHasClass`.
fn has_class(claim: &PersistentVolumeClaim) -> bool {
    claim
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(BETA_CLAIM_CLASS))
        || claim
            .spec
            .as_ref()
            .is_some_and(|s| s.storage_class_name.is_some())
}

#[cfg(test)]
mod tests {
    use super::super::manifest;
    use crate::volumes::VolumeObject;

    /// The class each claim of `yaml` reads with, by name.
    fn classes_of_claims(yaml: &str) -> Vec<(String, Option<String>)> {
        let objects = manifest::parse("test.yaml", yaml).unwrap();
        objects
            .storage
            .iter()
            .filter_map(|o| match o {
                VolumeObject::Claim(c) => Some((
                    c.metadata.name.clone().unwrap(),
                    c.spec.as_ref().unwrap().storage_class_name.clone(),
                )),
                _ => None,
            })
            .collect()
    }

    fn class(name: &str, annotation: Option<(&str, &str)>, created: &str) -> String {
        let annotations = annotation.map_or(String::new(), |(k, v)| {
            format!("\n  annotations:\n    {k}: \"{v}\"")
        });
        format!(
            "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: {name}\n  creationTimestamp: \"{created}\"{annotations}\nprovisioner: example.com/disk\nvolumeBindingMode: WaitForFirstConsumer\n"
        )
    }

    fn claim(name: &str, extra_spec: &str, extra_meta: &str) -> String {
        format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}{extra_meta}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi{extra_spec}\n"
        )
    }

    #[test]
    fn a_claim_without_a_class_gets_the_newest_default_one() {
        let yaml = [
            claim("none", "", ""),
            class(
                "old",
                Some(("storageclass.kubernetes.io/is-default-class", "true")),
                "2026-01-01T00:00:00Z",
            ),
            class(
                "new",
                Some(("storageclass.beta.kubernetes.io/is-default-class", "true")),
                "2026-06-01T00:00:00Z",
            ),
            class(
                "newest-not-default",
                Some(("storageclass.kubernetes.io/is-default-class", "false")),
                "2026-12-01T00:00:00Z",
            ),
            claim("named", "\n  storageClassName: old", ""),
            claim("explicitly-none", "\n  storageClassName: \"\"", ""),
            claim(
                "beta-annotated",
                "",
                "\n  annotations:\n    volume.beta.kubernetes.io/storage-class: old",
            ),
        ]
        .join("---\n");
        assert_eq!(
            classes_of_claims(&yaml),
            vec![
                ("none".to_string(), Some("new".to_string())),
                ("named".to_string(), Some("old".to_string())),
                ("explicitly-none".to_string(), Some(String::new())),
                ("beta-annotated".to_string(), None),
            ]
        );
    }

    #[test]
    fn of_default_classes_created_together_the_first_by_name() {
        let default = Some(("storageclass.kubernetes.io/is-default-class", "true"));
        let yaml = [
            class("b", default, "2026-01-01T00:00:00Z"),
            class("a", default, "2026-01-01T00:00:00Z"),
            claim("none", "", ""),
        ]
        .join("---\n");
        assert_eq!(
            classes_of_claims(&yaml),
            vec![("none".to_string(), Some("a".to_string()))]
        );
    }

    #[test]
    fn without_a_default_class_a_claim_keeps_none() {
        let yaml = [
            class("plain", None, "2026-01-01T00:00:00Z"),
            claim("none", "", ""),
        ]
        .join("---\n");
        assert_eq!(classes_of_claims(&yaml), vec![("none".to_string(), None)]);
    }
}

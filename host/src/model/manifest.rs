//! Reading Kubernetes manifests the way `kubectl create -f` and the
//! apiserver would: strict field checking, the apiserver's defaulting and
//! admission (namespace, scheduler name, priority, requests from limits,
//! default toleration seconds, `matchLabelKeys`/`mismatchLabelKeys` merged
//! into label selectors, allocatable from capacity) and its validation
//! messages, so that the embedded cluster and a real one see the same
//! objects. Services, ReplicationControllers, ReplicaSets and StatefulSets
//! are read for their selectors (PodTopologySpread's default spreading,
//! see [`crate::workloads`]); their other fields are decoded strictly but
//! not validated.

use super::quantity::Quantity;
use crate::workloads::Workload;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Container, Namespace, Node, Pod, PodAffinityTerm, ReplicationController, Service, Toleration,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The objects of a manifest file, defaulted as the apiserver stores them.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub namespaces: Vec<Namespace>,
    pub priority_classes: Vec<PriorityClass>,
    /// Services, ReplicationControllers, ReplicaSets and StatefulSets.
    pub workloads: Vec<Workload>,
}

/// A manifest the apiserver would refuse, located by file and document.
#[derive(Debug)]
pub struct ManifestError {
    pub source_name: String,
    /// 1-based position of the YAML document in the file; 0 when the
    /// problem is the file as a whole.
    pub document: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            0 => write!(f, "{}: {}", self.source_name, self.message),
            n => write!(f, "{}: document {n}: {}", self.source_name, self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// One field-level complaint, printed as the apiserver prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub kind: FieldErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required(&'static str),
    Invalid {
        value: String,
        detail: String,
    },
    NotSupported {
        value: String,
        supported: &'static [&'static str],
    },
    Duplicate(String),
    Forbidden(&'static str),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.kind {
            FieldErrorKind::Required("") => write!(f, "{path}: Required value"),
            FieldErrorKind::Required(detail) => write!(f, "{path}: Required value: {detail}"),
            FieldErrorKind::Invalid { value, detail } => {
                write!(f, "{path}: Invalid value: \"{value}\": {detail}")
            }
            FieldErrorKind::NotSupported { value, supported } => {
                let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
                write!(
                    f,
                    "{path}: Unsupported value: \"{value}\": supported values: {}",
                    list.join(", ")
                )
            }
            FieldErrorKind::Duplicate(value) => write!(f, "{path}: Duplicate value: \"{value}\""),
            FieldErrorKind::Forbidden(detail) => write!(f, "{path}: Forbidden: {detail}"),
        }
    }
}

fn invalid(
    path: impl Into<String>,
    value: impl Into<String>,
    detail: impl Into<String>,
) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Invalid {
            value: value.into(),
            detail: detail.into(),
        },
    }
}

fn required(path: impl Into<String>, detail: &'static str) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Required(detail),
    }
}

/// Priority values of the classes every apiserver creates.
const SYSTEM_PRIORITY_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

/// The scheduler a pod gets when it names none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Reads a multi-document YAML file of Nodes, Pods, Namespaces,
/// PriorityClasses, Services, ReplicationControllers, ReplicaSets and
/// StatefulSets (also inside `kind: List`).
///
/// ```no_run
/// let objects = kws_host::model::manifest::read_file("examples/cluster.yaml".as_ref())?;
/// println!("{} nodes, {} pods", objects.nodes.len(), objects.pods.len());
/// # Ok::<(), kws_host::model::manifest::ManifestError>(())
/// ```
///
/// The file may be a regular file or a pipe (`<(kubectl get ...)`), of at
/// most [`MAX_CLUSTER_FILE_BYTES`](crate::files::MAX_CLUSTER_FILE_BYTES);
/// a device or a larger file is refused.
pub fn read_file(path: &Path) -> Result<Manifests, ManifestError> {
    use crate::files::{self, Kind, MAX_CLUSTER_FILE_BYTES};
    let source_name = path.display().to_string();
    let text = files::read_to_string(
        path,
        Kind::RegularOrPipe,
        MAX_CLUSTER_FILE_BYTES,
        "a cluster file",
    )
    .map_err(|e| ManifestError {
        source_name: source_name.clone(),
        document: 0,
        message: match e {
            files::ReadError::Io(e) => format!("cannot read the file: {e}"),
            refused => refused.to_string(),
        },
    })?;
    parse(&source_name, &text)
}

/// Parses manifests from text; `source_name` names it in errors.
pub fn parse(source_name: &str, text: &str) -> Result<Manifests, ManifestError> {
    let mut objects = Manifests::default();
    let mut located: Vec<(usize, Pod)> = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let fail = |message: String| ManifestError {
            source_name: source_name.to_string(),
            document: number,
            message,
        };
        let value = serde_yaml::Value::deserialize(document)
            .map_err(|e| fail(format!("not valid YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value)
            .map_err(|e| fail(format!("not representable as JSON: {e}")))?;
        let mut pods = Vec::new();
        add_object(json, &mut objects, &mut pods).map_err(fail)?;
        located.extend(pods.into_iter().map(|p| (number, p)));
    }
    let classes = priority_classes(&objects.priority_classes);
    let mut seen_nodes = HashSet::new();
    for node in &mut objects.nodes {
        default_node(node);
        let name = node.metadata.name.clone().unwrap_or_default();
        if !seen_nodes.insert(name.clone()) {
            return Err(ManifestError {
                source_name: source_name.to_string(),
                document: 0,
                message: format!("nodes \"{name}\" already exists"),
            });
        }
    }
    let mut seen_pods = HashSet::new();
    for (number, mut pod) in located {
        let fail = |message: String| ManifestError {
            source_name: source_name.to_string(),
            document: number,
            message,
        };
        default_pod(&mut pod, &classes).map_err(fail)?;
        let key = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
        if !seen_pods.insert(key) {
            return Err(fail(format!(
                "pods \"{}\" already exists",
                pod.metadata.name.as_deref().unwrap_or_default()
            )));
        }
        objects.pods.push(pod);
    }
    Ok(objects)
}

use serde::Deserialize;

/// Decodes one object strictly (unknown fields are errors, as with
/// `kubectl create --validate=strict`) and validates it.
fn add_object(
    json: serde_json::Value,
    objects: &mut Manifests,
    pods: &mut Vec<Pod>,
) -> Result<(), String> {
    let api_version = json["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = json["kind"].as_str().unwrap_or_default().to_string();
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "List") => {
            let items = json["items"].as_array().cloned().unwrap_or_default();
            for item in items {
                add_object(item, objects, pods)?;
            }
        }
        ("v1", "Node") => {
            let node: Node = decode(json, "Node")?;
            check(&kind, &node.metadata.name, validate_node(&node))?;
            objects.nodes.push(node);
        }
        ("v1", "Pod") => {
            let pod: Pod = decode(json, "Pod")?;
            check(&kind, &pod.metadata.name, validate_pod(&pod))?;
            pods.push(pod);
        }
        ("v1", "Namespace") => {
            let namespace: Namespace = decode(json, "Namespace")?;
            check(
                &kind,
                &namespace.metadata.name,
                name_errors(&namespace.metadata.name),
            )?;
            objects.namespaces.push(namespace);
        }
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            let class: PriorityClass = decode(json, "PriorityClass")?;
            let mut errors = name_errors(&class.metadata.name);
            if class.value.is_none() {
                errors.push(required("value", ""));
            }
            check(&kind, &class.metadata.name, errors)?;
            objects.priority_classes.push(class);
        }
        ("v1", "Service") => {
            let mut service: Service = decode(json, "Service")?;
            check(&kind, &service.metadata.name, validate_service(&service))?;
            default_namespace(&mut service.metadata);
            objects.workloads.push(Workload::Service(Arc::new(service)));
        }
        ("v1", "ReplicationController") => {
            let mut rc: ReplicationController = decode(json, "ReplicationController")?;
            default_replication_controller(&mut rc);
            check(
                &kind,
                &rc.metadata.name,
                validate_replication_controller(&rc),
            )?;
            default_namespace(&mut rc.metadata);
            objects
                .workloads
                .push(Workload::ReplicationController(Arc::new(rc)));
        }
        ("apps/v1", "ReplicaSet" | "StatefulSet") => {
            // The spec and its selector are required: say so before
            // decoding, which would only report a missing field.
            let mut errors = name_errors(&decode_name(&json));
            if json["spec"]["selector"].is_null() {
                errors.push(required("spec.selector", ""));
            }
            check(&kind, &decode_name(&json), errors)?;
            let workload = if kind == "ReplicaSet" {
                let mut rs: ReplicaSet = decode(json, "ReplicaSet")?;
                let errors = controller_selector_errors(
                    &rs.spec.selector,
                    rs.spec
                        .template
                        .as_ref()
                        .and_then(|t| t.metadata.as_ref())
                        .and_then(|m| m.labels.as_ref()),
                    "deployment",
                );
                check(&kind, &rs.metadata.name, errors)?;
                default_namespace(&mut rs.metadata);
                Workload::ReplicaSet(Arc::new(rs))
            } else {
                let mut ss: StatefulSet = decode(json, "StatefulSet")?;
                let errors = controller_selector_errors(
                    &ss.spec.selector,
                    ss.spec
                        .template
                        .metadata
                        .as_ref()
                        .and_then(|m| m.labels.as_ref()),
                    "statefulset",
                );
                check(&kind, &ss.metadata.name, errors)?;
                default_namespace(&mut ss.metadata);
                Workload::StatefulSet(Arc::new(ss))
            };
            objects.workloads.push(workload);
        }
        ("", _) => return Err("apiVersion not set".to_string()),
        (_, "") => return Err("kind not set".to_string()),
        _ => {
            return Err(format!(
                "no matches for kind \"{kind}\" in version \"{api_version}\" (the embedded cluster holds Nodes, Pods, Namespaces, PriorityClasses, Services, ReplicationControllers, ReplicaSets and StatefulSets)"
            ));
        }
    }
    Ok(())
}

/// `metadata.name` of an object not decoded yet, for error messages.
fn decode_name(json: &serde_json::Value) -> Option<String> {
    json["metadata"]["name"].as_str().map(str::to_string)
}

/// Objects without a namespace are created in `default`.
fn default_namespace(meta: &mut ObjectMeta) {
    if meta.namespace.as_deref().unwrap_or_default().is_empty() {
        meta.namespace = Some("default".to_string());
    }
}

/// A Service's name and selector; `spec.ports` is required unless the
/// Service is headless or an ExternalName, as the apiserver checks.
fn validate_service(service: &Service) -> Vec<FieldError> {
    let mut errors = name_errors(&service.metadata.name);
    let spec = service.spec.as_ref();
    let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    let external = spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName");
    if spec
        .and_then(|s| s.ports.as_ref())
        .is_none_or(Vec::is_empty)
        && !headless
        && !external
    {
        errors.push(required("spec.ports", ""));
    }
    for (key, value) in spec.and_then(|s| s.selector.as_ref()).into_iter().flatten() {
        errors.extend(label_errors("spec.selector", key, value));
    }
    errors
}

/// The ReplicationController defaulting: a missing or empty selector (and
/// missing labels) take the template's labels.
fn default_replication_controller(rc: &mut ReplicationController) {
    let Some(spec) = &mut rc.spec else {
        return;
    };
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) && !template_labels.is_empty() {
        spec.selector = Some(template_labels.clone());
    }
    if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) && !template_labels.is_empty() {
        rc.metadata.labels = Some(template_labels);
    }
}

/// A ReplicationController needs a selector (after defaulting) and a
/// template whose labels it selects.
fn validate_replication_controller(rc: &ReplicationController) -> Vec<FieldError> {
    let mut errors = name_errors(&rc.metadata.name);
    let spec = rc.spec.as_ref();
    let selector = spec
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty());
    let Some(selector) = selector else {
        errors.push(required("spec.selector", ""));
        return errors;
    };
    for (key, value) in selector {
        errors.extend(label_errors("spec.selector", key, value));
    }
    match spec.and_then(|s| s.template.as_ref()) {
        None => errors.push(required("spec.template", "")),
        Some(template) => {
            let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
            let selected = selector
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            if !selected {
                errors.push(invalid(
                    "spec.template.metadata.labels",
                    format!("{:?}", labels.cloned().unwrap_or_default()),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    errors
}

/// The selector of a ReplicaSet or StatefulSet (`what` names the kind in
/// upstream's message, which says `deployment` for ReplicaSets): a valid,
/// non-empty label selector that selects the template's labels.
fn controller_selector_errors(
    selector: &LabelSelector,
    template_labels: Option<&BTreeMap<String, String>>,
    what: &str,
) -> Vec<FieldError> {
    let mut errors = label_selector_errors("spec.selector", selector);
    if !errors.is_empty() {
        return errors;
    }
    let labels = selector.match_labels.iter().flatten();
    let expressions = selector.match_expressions.iter().flatten();
    if labels.clone().next().is_none() && expressions.clone().next().is_none() {
        errors.push(invalid(
            "spec.selector",
            "{}",
            format!("empty selector is invalid for {what}"),
        ));
        return errors;
    }
    let empty = BTreeMap::new();
    let template = template_labels.unwrap_or(&empty);
    let selected = labels.clone().all(|(k, v)| template.get(k) == Some(v))
        && expressions.clone().all(|r| {
            let value = template.get(&r.key);
            let listed = |v: &String| r.values.iter().flatten().any(|x| x == v);
            match r.operator.as_str() {
                "In" => value.is_some_and(listed),
                "NotIn" => value.is_none_or(|v| !listed(v)),
                "Exists" => value.is_some(),
                _ => value.is_none(),
            }
        });
    if !selected {
        errors.push(invalid(
            "spec.template.metadata.labels",
            format!("{template:?}"),
            "`selector` does not match template `labels`",
        ));
    }
    errors
}

/// `ValidateLabelSelector`: each requirement's operator and values, and
/// every key and value well formed.
fn label_selector_errors(path: &str, selector: &LabelSelector) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        errors.extend(label_errors(&format!("{path}.matchLabels"), key, value));
    }
    for (i, r) in selector.match_expressions.iter().flatten().enumerate() {
        let path = format!("{path}.matchExpressions[{i}]");
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errors.push(required(
                format!("{path}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errors.push(FieldError {
                path: format!("{path}.values"),
                kind: FieldErrorKind::Forbidden(
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ),
            }),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errors.push(invalid(
                format!("{path}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errors.extend(label_key_errors(&format!("{path}.key"), &r.key));
        for (v, value) in values.iter().enumerate() {
            errors.extend(label_value_errors(&format!("{path}.values[{v}]"), value));
        }
    }
    errors
}

/// A label `key: value` of a map at `path` (`path.key` names the value).
fn label_errors(path: &str, key: &str, value: &str) -> Vec<FieldError> {
    let mut errors = label_key_errors(path, key);
    errors.extend(label_value_errors(&format!("{path}.{key}"), value));
    errors
}

const LABEL_NAME_ERROR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_ERROR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// Alphanumerics, `-`, `_` and `.`, starting and ending alphanumeric.
fn is_label_word(word: &str) -> bool {
    let bytes = word.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a
/// name of at most 63 characters.
fn label_key_errors(path: &str, key: &str) -> Vec<FieldError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let mut errors = Vec::new();
    if prefix.is_some_and(|p| !is_dns1123_subdomain(p)) {
        errors.push(invalid(
            path,
            key,
            format!("prefix part {DNS1123_SUBDOMAIN_ERROR}"),
        ));
    }
    if name.len() > 63 {
        errors.push(invalid(
            path,
            key,
            "name part must be no more than 63 characters",
        ));
    }
    if !is_label_word(name) {
        errors.push(invalid(path, key, LABEL_NAME_ERROR));
    }
    errors
}

/// `IsValidLabelValue`: empty, or a label word of at most 63 characters.
fn label_value_errors(path: &str, value: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push(invalid(path, value, "must be no more than 63 characters"));
    }
    if !value.is_empty() && !is_label_word(value) {
        errors.push(invalid(path, value, LABEL_VALUE_ERROR));
    }
    errors
}

fn decode<T: serde::de::DeserializeOwned>(
    json: serde_json::Value,
    kind: &str,
) -> Result<T, String> {
    let mut unknown = Vec::new();
    let object: T =
        serde_ignored::deserialize(json, |path| unknown.push(field_path(&path.to_string())))
            .map_err(|e| format!("{kind} could not be decoded: {e}"))?;
    // apiVersion and kind are read by the type itself, not ignored.
    if let Some(field) = unknown.first() {
        return Err(format!("strict decoding error: unknown field \"{field}\""));
    }
    Ok(object)
}

/// `spec.?.containers.?.0.image` (serde_ignored's form, `?` for options) as
/// `spec.containers[0].image`.
fn field_path(raw: &str) -> String {
    let mut path = String::new();
    for segment in raw.split('.').filter(|s| *s != "?") {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(segment);
        }
    }
    path
}

fn check(kind: &str, name: &Option<String>, errors: Vec<FieldError>) -> Result<(), String> {
    let name = name.as_deref().unwrap_or_default();
    match errors.as_slice() {
        [] => Ok(()),
        [one] => Err(format!("{kind} \"{name}\" is invalid: {one}")),
        many => {
            let list: Vec<String> = many.iter().map(ToString::to_string).collect();
            Err(format!(
                "{kind} \"{name}\" is invalid: [{}]",
                list.join(", ")
            ))
        }
    }
}

const DNS1123_SUBDOMAIN_ERROR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}

fn name_errors(name: &Option<String>) -> Vec<FieldError> {
    match name.as_deref() {
        None | Some("") => vec![required(
            "metadata.name",
            "name or generateName is required",
        )],
        Some(n) if !is_dns1123_subdomain(n) => {
            vec![invalid("metadata.name", n, DNS1123_SUBDOMAIN_ERROR)]
        }
        Some(_) => Vec::new(),
    }
}

/// Checks every quantity of a resource list, e.g. `spec.containers[0].resources.requests`.
fn resource_list_errors(
    path: &str,
    list: Option<&BTreeMap<String, KubeQuantity>>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (name, quantity) in list.into_iter().flatten() {
        let field = format!("{path}[{name}]");
        match Quantity::parse(&quantity.0) {
            Err(e) => errors.push(invalid(field, &quantity.0, e.to_string())),
            Ok(q) if q.is_negative() => errors.push(invalid(
                field,
                &quantity.0,
                "must be greater than or equal to 0",
            )),
            Ok(_) => {}
        }
    }
    errors
}

const TAINT_EFFECTS: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn validate_node(node: &Node) -> Vec<FieldError> {
    let mut errors = name_errors(&node.metadata.name);
    if let Some(spec) = &node.spec {
        for (i, taint) in spec.taints.iter().flatten().enumerate() {
            if taint.key.is_empty() {
                errors.push(required(format!("spec.taints[{i}].key"), ""));
            }
            if !TAINT_EFFECTS.contains(&taint.effect.as_str()) {
                errors.push(FieldError {
                    path: format!("spec.taints[{i}].effect"),
                    kind: FieldErrorKind::NotSupported {
                        value: taint.effect.clone(),
                        supported: TAINT_EFFECTS,
                    },
                });
            }
        }
    }
    if let Some(status) = &node.status {
        errors.extend(resource_list_errors(
            "status.capacity",
            status.capacity.as_ref(),
        ));
        errors.extend(resource_list_errors(
            "status.allocatable",
            status.allocatable.as_ref(),
        ));
    }
    errors
}

fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errors = name_errors(&pod.metadata.name);
    errors.extend(owner_reference_errors(&pod.metadata));
    let Some(spec) = &pod.spec else {
        errors.push(required("spec.containers", ""));
        return errors;
    };
    if spec.containers.is_empty() {
        errors.push(required("spec.containers", ""));
    }
    let mut names = HashSet::new();
    let groups = [
        (
            "spec.initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("spec.containers", spec.containers.as_slice()),
    ];
    for (group, containers) in groups {
        for (i, container) in containers.iter().enumerate() {
            let path = format!("{group}[{i}]");
            if container.name.is_empty() {
                errors.push(required(format!("{path}.name"), ""));
            } else if !names.insert(container.name.clone()) {
                errors.push(FieldError {
                    path: format!("{path}.name"),
                    kind: FieldErrorKind::Duplicate(container.name.clone()),
                });
            }
            if container.image.as_deref().unwrap_or_default().is_empty() {
                errors.push(required(format!("{path}.image"), ""));
            }
            errors.extend(container_resource_errors(&path, container));
            for (p, port) in container.ports.iter().flatten().enumerate() {
                let port_path = format!("{path}.ports[{p}]");
                let protocol = port.protocol.as_deref().unwrap_or("TCP");
                if !PROTOCOLS.contains(&protocol) {
                    errors.push(FieldError {
                        path: format!("{port_path}.protocol"),
                        kind: FieldErrorKind::NotSupported {
                            value: protocol.to_string(),
                            supported: PROTOCOLS,
                        },
                    });
                }
                for (field, value) in [
                    ("containerPort", Some(port.container_port)),
                    ("hostPort", port.host_port),
                ] {
                    if let Some(v) = value.filter(|v| {
                        !(1..=65535).contains(v) && (field == "containerPort" || *v != 0)
                    }) {
                        errors.push(invalid(
                            format!("{port_path}.{field}"),
                            v.to_string(),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
            }
        }
    }
    errors.extend(resource_list_errors(
        "spec.overhead",
        spec.overhead.as_ref(),
    ));
    for (i, toleration) in spec.tolerations.iter().flatten().enumerate() {
        errors.extend(toleration_errors(
            &format!("spec.tolerations[{i}]"),
            toleration,
        ));
    }
    errors
}

/// `ValidateOwnerReferences`: each reference names its apiVersion, kind,
/// name and uid, and at most one is the controller (PodTopologySpread's
/// default selector follows it).
fn owner_reference_errors(meta: &ObjectMeta) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut controller: Option<String> = None;
    for (i, owner) in meta.owner_references.iter().flatten().enumerate() {
        let path = format!("metadata.ownerReferences[{i}]");
        for (field, value) in [
            ("apiVersion", &owner.api_version),
            ("kind", &owner.kind),
            ("name", &owner.name),
            ("uid", &owner.uid),
        ] {
            if value.is_empty() {
                errors.push(required(format!("{path}.{field}"), "must not be empty"));
            }
        }
        if owner.controller == Some(true) {
            let this = format!("{}/{}", owner.kind, owner.name);
            match &controller {
                Some(first) => errors.push(invalid(
                    "metadata.ownerReferences",
                    &this,
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"),
                )),
                None => controller = Some(this),
            }
        }
    }
    errors
}

fn container_resource_errors(path: &str, container: &Container) -> Vec<FieldError> {
    let Some(resources) = &container.resources else {
        return Vec::new();
    };
    let mut errors = resource_list_errors(
        &format!("{path}.resources.requests"),
        resources.requests.as_ref(),
    );
    errors.extend(resource_list_errors(
        &format!("{path}.resources.limits"),
        resources.limits.as_ref(),
    ));
    if !errors.is_empty() {
        return errors;
    }
    for (name, request) in resources.requests.iter().flatten() {
        let Some(limit) = resources.limits.as_ref().and_then(|l| l.get(name)) else {
            continue;
        };
        let (r, l) = (Quantity::parse(&request.0), Quantity::parse(&limit.0));
        if let (Ok(r), Ok(l)) = (r, l)
            && r.milli_value() > l.milli_value()
        {
            errors.push(invalid(
                format!("{path}.resources.requests"),
                &request.0,
                format!("must be less than or equal to {name} limit of {}", limit.0),
            ));
        }
    }
    errors
}

const TOLERATION_OPERATORS: &[&str] = &["Equal", "Exists"];

fn toleration_errors(path: &str, toleration: &Toleration) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    match operator {
        "Equal" => {}
        "Exists" => {
            if !toleration.value.as_deref().unwrap_or_default().is_empty() {
                errors.push(invalid(
                    format!("{path}.operator"),
                    operator,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        other => errors.push(FieldError {
            path: format!("{path}.operator"),
            kind: FieldErrorKind::NotSupported {
                value: other.to_string(),
                supported: TOLERATION_OPERATORS,
            },
        }),
    }
    if toleration.key.as_deref().unwrap_or_default().is_empty() && operator != "Exists" {
        errors.push(invalid(
            format!("{path}.operator"),
            operator,
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && !TAINT_EFFECTS.contains(&effect)
    {
        errors.push(FieldError {
            path: format!("{path}.effect"),
            kind: FieldErrorKind::NotSupported {
                value: effect.to_string(),
                supported: TAINT_EFFECTS,
            },
        });
    }
    errors
}

/// The value of each PriorityClass by name, the system ones included, and
/// the global default's value.
struct PriorityClasses {
    values: HashMap<String, i32>,
    global_default: i32,
}

fn priority_classes(classes: &[PriorityClass]) -> PriorityClasses {
    let mut values: HashMap<String, i32> = SYSTEM_PRIORITY_CLASSES
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    let mut global_default = 0;
    for class in classes {
        let name = class.metadata.name.clone().unwrap_or_default();
        values.insert(name, class.value.unwrap_or(0));
        if class.global_default == Some(true) {
            global_default = class.value.unwrap_or(0);
        }
    }
    PriorityClasses {
        values,
        global_default,
    }
}

/// Keys of the taints the DefaultTolerationSeconds admission plugin adds
/// tolerations for.
const DEFAULT_TOLERATED_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Applies the apiserver's defaulting and admission to a pod.
fn default_pod(pod: &mut Pod, classes: &PriorityClasses) -> Result<(), String> {
    let meta = &mut pod.metadata;
    meta.namespace.get_or_insert_with(|| "default".to_string());
    let namespace = meta.namespace.clone().unwrap_or_default();
    let name = meta.name.clone().unwrap_or_default();
    // The uid is the apiserver's to give, a fresh one on every create: one
    // set in the file (a copy of `kubectl get -o yaml`, shared by every copy)
    // is replaced, so two pods never share one.
    meta.uid = Some(stable_uid(&namespace, &name));
    let spec = pod.spec.get_or_insert_with(Default::default);
    if spec
        .scheduler_name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        spec.scheduler_name = Some(DEFAULT_SCHEDULER_NAME.to_string());
    }
    let priority = match spec
        .priority_class_name
        .as_deref()
        .filter(|n| !n.is_empty())
    {
        Some(class) => *classes.values.get(class).ok_or_else(|| {
            format!("pods \"{name}\" is forbidden: no PriorityClass with name {class} was found")
        })?,
        None => classes.global_default,
    };
    match spec.priority {
        Some(given) if given != priority => {
            return Err(format!(
                "pods \"{name}\" is forbidden: the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
            ));
        }
        _ => spec.priority = Some(priority),
    }
    let host_network = spec.host_network == Some(true);
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for container in containers {
        if let Some(resources) = &mut container.resources
            && let Some(limits) = &resources.limits
        {
            let requests = resources.requests.get_or_insert_with(BTreeMap::new);
            for (name, limit) in limits {
                requests
                    .entry(name.clone())
                    .or_insert_with(|| limit.clone());
            }
        }
        for port in container.ports.iter_mut().flatten() {
            port.protocol.get_or_insert_with(|| "TCP".to_string());
            if host_network && port.host_port.unwrap_or(0) == 0 {
                port.host_port = Some(port.container_port);
            }
        }
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in DEFAULT_TOLERATED_TAINTS {
        let covered = tolerations.iter().any(|t| {
            let effect = t.effect.as_deref().unwrap_or_default();
            (effect.is_empty() || effect == "NoExecute")
                && (t.key.as_deref() == Some(key)
                    || (t.key.as_deref().unwrap_or_default().is_empty()
                        && t.operator.as_deref() == Some("Exists")))
        });
        if !covered {
            tolerations.push(Toleration {
                key: Some(key.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoExecute".to_string()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
    merge_label_keys(pod);
    Ok(())
}

/// The pod strategy's create-time merge (features MatchLabelKeysInPodAffinity
/// and MatchLabelKeysInPodTopologySpreadSelectorMerge, both on in v1.37):
/// for each key of a pod affinity term's `matchLabelKeys`
/// (`mismatchLabelKeys`) that the pod has a label for, `key In (value)`
/// (`NotIn`) is appended to the term's label selector; likewise
/// `matchLabelKeys` of spread constraints. kube-scheduler's InterPodAffinity
/// reads only the merged selector, so a pod that skipped this would be
/// placed as if the keys were not there. A missing selector stays missing
/// (it selects nothing either way). The keys stay in the spec, as on the
/// apiserver.
fn merge_label_keys(pod: &mut Pod) {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let append = |selector: &mut LabelSelector, keys: &Option<Vec<String>>, operator: &str| {
        for key in keys.iter().flatten() {
            if let Some(value) = labels.get(key) {
                selector
                    .match_expressions
                    .get_or_insert_with(Vec::new)
                    .push(LabelSelectorRequirement {
                        key: key.clone(),
                        operator: operator.to_string(),
                        values: Some(vec![value.clone()]),
                    });
            }
        }
    };
    let merge_term = |term: &mut PodAffinityTerm| {
        if let Some(selector) = &mut term.label_selector {
            append(selector, &term.match_label_keys, "In");
            append(selector, &term.mismatch_label_keys, "NotIn");
        }
    };
    let Some(spec) = &mut pod.spec else {
        return;
    };
    if let Some(affinity) = &mut spec.affinity {
        let affinity_terms = affinity.pod_affinity.iter_mut().flat_map(|a| {
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .chain(
                    a.preferred_during_scheduling_ignored_during_execution
                        .iter_mut()
                        .flatten()
                        .map(|w| &mut w.pod_affinity_term),
                )
        });
        let anti_affinity_terms = affinity.pod_anti_affinity.iter_mut().flat_map(|a| {
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .chain(
                    a.preferred_during_scheduling_ignored_during_execution
                        .iter_mut()
                        .flatten()
                        .map(|w| &mut w.pod_affinity_term),
                )
        });
        affinity_terms
            .chain(anti_affinity_terms)
            .for_each(merge_term);
    }
    for constraint in spec.topology_spread_constraints.iter_mut().flatten() {
        if let Some(selector) = &mut constraint.label_selector {
            append(selector, &constraint.match_label_keys, "In");
        }
    }
}

/// Applies the apiserver's defaulting to a node: allocatable defaults to
/// capacity.
fn default_node(node: &mut Node) {
    if let Some(status) = &mut node.status
        && status.allocatable.is_none()
    {
        status.allocatable = status.capacity.clone();
    }
}

/// A UUID-shaped uid derived from the pod's name, so that simulations are
/// reproducible; distinct for distinct pods of a file, whose names are.
fn stable_uid(namespace: &str, name: &str) -> String {
    uuid_shaped(&(namespace, name))
}

/// A UUID-shaped string hashed from `seed`: the same seed, the same uid.
pub(crate) fn uuid_shaped(seed: &impl std::hash::Hash) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut words = [0u64; 2];
    for (half, word) in words.iter_mut().enumerate() {
        let mut hasher = DefaultHasher::new();
        (half, seed).hash(&mut hasher);
        *word = hasher.finish();
    }
    let hex = format!("{:016x}{:016x}", words[0], words[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Manifests {
        parse("test.yaml", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        parse("test.yaml", text).unwrap_err().to_string()
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n";

    #[test]
    fn pods_get_the_apiservers_defaults() {
        let objects = parse_ok(POD);
        let pod = &objects.pods[0];
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.priority, Some(0));
        let tolerations = spec.tolerations.as_ref().unwrap();
        assert_eq!(tolerations.len(), 2, "DefaultTolerationSeconds adds two");
        assert_eq!(tolerations[0].toleration_seconds, Some(300));
        assert!(pod.metadata.uid.as_ref().is_some_and(|u| u.len() == 36));
    }

    #[test]
    fn uids_given_in_the_file_are_replaced_as_on_create() {
        // Copies of one `kubectl get -o yaml` output share its uid.
        let copy = |name: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, uid: 0d4f1a52-6e3c-4b59-9c4e-3f1e2d7a8b90}}\nspec: {{containers: [{{name: c, image: i}}]}}\n"
            )
        };
        let objects = parse_ok(&[copy("a"), copy("b"), copy("c")].join("---\n"));
        let uids: HashSet<&str> = objects
            .pods
            .iter()
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        assert_eq!(uids.len(), 3, "{uids:?}");
        assert!(!uids.contains("0d4f1a52-6e3c-4b59-9c4e-3f1e2d7a8b90"));
        assert_eq!(
            parse_ok(&copy("a")).pods[0].metadata.uid,
            objects.pods[0].metadata.uid,
            "the same pod gets the same uid in every run"
        );
    }

    #[test]
    fn match_label_keys_are_merged_into_selectors_as_on_create() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: api, labels: {tier: backend, track: canary}}\nspec:\n  containers: [{name: c, image: i}]\n  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: web}}\n        matchLabelKeys: [tier, missing]\n        mismatchLabelKeys: [track]\n        topologyKey: zone\n      - matchLabelKeys: [tier]\n        topologyKey: zone\n    podAntiAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 5\n        podAffinityTerm:\n          labelSelector: {}\n          matchLabelKeys: [tier]\n          topologyKey: zone\n  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}, matchLabelKeys: [track]}\n",
        );
        let spec = objects.pods[0].spec.as_ref().unwrap();
        let expressions = |selector: &LabelSelector| -> Vec<(String, String, Vec<String>)> {
            selector
                .match_expressions
                .iter()
                .flatten()
                .map(|r| {
                    (
                        r.key.clone(),
                        r.operator.clone(),
                        r.values.clone().unwrap_or_default(),
                    )
                })
                .collect()
        };
        let triple =
            |k: &str, op: &str, v: &str| (k.to_string(), op.to_string(), vec![v.to_string()]);
        let affinity = spec.affinity.as_ref().unwrap();
        let required = affinity
            .pod_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap();
        assert_eq!(
            expressions(required[0].label_selector.as_ref().unwrap()),
            [
                triple("tier", "In", "backend"),
                triple("track", "NotIn", "canary")
            ],
            "keys the pod has no label for add nothing"
        );
        assert_eq!(
            required[0].match_label_keys.as_deref(),
            Some(&["tier".to_string(), "missing".to_string()][..]),
            "the keys stay in the spec"
        );
        assert!(
            required[1].label_selector.is_none(),
            "a term without a selector selects nothing and stays so"
        );
        let preferred = &affinity
            .pod_anti_affinity
            .as_ref()
            .unwrap()
            .preferred_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()[0];
        assert_eq!(
            expressions(preferred.pod_affinity_term.label_selector.as_ref().unwrap()),
            [triple("tier", "In", "backend")]
        );
        let spread = &spec.topology_spread_constraints.as_ref().unwrap()[0];
        assert_eq!(
            expressions(spread.label_selector.as_ref().unwrap()),
            [triple("track", "In", "canary")]
        );
    }

    #[test]
    fn requests_default_to_limits_and_ports_to_tcp() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: i\n    ports: [{containerPort: 80}]\n    resources:\n      limits: {cpu: 500m, memory: 1Gi}\n      requests: {memory: 512Mi}\n",
        );
        let c = &objects.pods[0].spec.as_ref().unwrap().containers[0];
        let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert_eq!(requests["cpu"].0, "500m");
        assert_eq!(requests["memory"].0, "512Mi");
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        assert_eq!(
            port.host_port,
            Some(80),
            "hostNetwork pods take their container ports"
        );
    }

    #[test]
    fn priority_comes_from_priority_classes() {
        let objects = parse_ok(&format!(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: high}}\nvalue: 1000\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: normal}}\nvalue: 10\nglobalDefault: true\n---\n{POD}---\n{}",
            POD.replace("name: web}", "name: urgent}\n")
                .replace("spec:\n", "spec:\n  priorityClassName: high\n")
        ));
        let priorities: Vec<_> = objects
            .pods
            .iter()
            .map(|p| p.spec.as_ref().unwrap().priority)
            .collect();
        assert_eq!(priorities, [Some(10), Some(1000)]);
        let missing = parse_err(&POD.replace("spec:\n", "spec:\n  priorityClassName: nope\n"));
        assert_eq!(
            missing,
            "test.yaml: document 1: pods \"web\" is forbidden: no PriorityClass with name nope was found"
        );
    }

    #[test]
    fn allocatable_defaults_to_capacity() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  capacity: {cpu: '4', memory: 8Gi, pods: '110'}\n",
        );
        let status = objects.nodes[0].status.as_ref().unwrap();
        assert_eq!(status.allocatable, status.capacity);
    }

    #[test]
    fn errors_name_the_document_and_field() {
        let bad_cpu = POD.replace(
            "image: nginx\n",
            "image: nginx\n    resources: {requests: {cpu: 1 core}}\n",
        );
        assert_eq!(
            parse_err(&format!("{POD}---\n{}", bad_cpu.replace("web", "api"))),
            "test.yaml: document 2: Pod \"api\" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: \"1 core\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            parse_err(&POD.replace("    image: nginx\n", "")),
            "test.yaml: document 1: Pod \"web\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(
            parse_err(&POD.replace("image: nginx", "image: nginx\n    resourcez: {}")),
            "test.yaml: document 1: strict decoding error: unknown field \"spec.containers[0].resourcez\""
        );
        assert!(
            parse_err(&POD.replace("name: web", "name: Web"))
                .contains("metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain")
        );
        assert_eq!(
            parse_err("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"),
            "test.yaml: document 1: no matches for kind \"Deployment\" in version \"apps/v1\" (the embedded cluster holds Nodes, Pods, Namespaces, PriorityClasses, Services, ReplicationControllers, ReplicaSets and StatefulSets)"
        );
        assert_eq!(
            parse_err(&format!("{POD}---\n{POD}")),
            "test.yaml: document 2: pods \"web\" already exists"
        );
        let over_limit = POD.replace(
            "image: nginx\n",
            "image: nginx\n    resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}\n",
        );
        assert!(parse_err(&over_limit).ends_with("spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"));
        let two = POD
            .replace("    image: nginx\n", "")
            .replace("name: nginx", "name: ''");
        assert_eq!(
            parse_err(&two),
            "test.yaml: document 1: Pod \"web\" is invalid: [spec.containers[0].name: Required value, spec.containers[0].image: Required value]"
        );
    }

    #[test]
    fn taints_and_tolerations_are_checked() {
        let node = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec:\n  taints: [{key: k, effect: Sometimes}]\n";
        assert!(parse_err(node).ends_with("spec.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\""));
        let pod = POD.replace(
            "spec:\n",
            "spec:\n  tolerations: [{key: k, operator: Exists, value: v}]\n",
        );
        assert!(parse_err(&pod).ends_with("spec.tolerations[0].operator: Invalid value: \"Exists\": value must be empty when `operator` is 'Exists'"));
    }

    #[test]
    fn lists_and_empty_documents_are_read() {
        let objects = parse_ok(&format!(
            "---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {{name: a}}\n- apiVersion: v1\n  kind: Node\n  metadata: {{name: b}}\n---\n{POD}"
        ));
        assert_eq!(objects.nodes.len(), 2);
        assert_eq!(objects.pods.len(), 1);
    }

    const RS: &str = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: i}]}\n";

    #[test]
    fn services_and_controllers_are_read_into_their_namespace() {
        let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: old, namespace: team}\nspec:\n  template:\n    metadata: {labels: {app: old}}\n    spec: {containers: [{name: c, image: i}]}\n";
        let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n";
        let objects = parse_ok(&format!("{RS}---\n{rc}---\n{service}"));
        assert_eq!(objects.workloads.len(), 3);
        let Workload::ReplicationController(rc) = &objects.workloads[1] else {
            panic!("{:?}", objects.workloads[1]);
        };
        // The selector defaults to the template's labels, as on create.
        let selector = rc.spec.as_ref().and_then(|s| s.selector.clone());
        assert_eq!(
            selector,
            Some([("app".to_string(), "old".to_string())].into())
        );
        assert_eq!(rc.metadata.namespace.as_deref(), Some("team"));
        let Workload::Service(service) = &objects.workloads[2] else {
            panic!("{:?}", objects.workloads[2]);
        };
        assert_eq!(service.metadata.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn malformed_selectors_are_refused_naming_object_and_field() {
        assert_eq!(
            parse_err(&RS.replace("  selector: {matchLabels: {app: web}}\n", "")),
            "test.yaml: document 1: ReplicaSet \"web\" is invalid: spec.selector: Required value"
        );
        assert_eq!(
            parse_err(&RS.replace(
                "{matchLabels: {app: web}}",
                "{matchExpressions: [{key: app, operator: In}]}"
            )),
            "test.yaml: document 1: ReplicaSet \"web\" is invalid: spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        );
        assert_eq!(
            parse_err(&RS.replace("{matchLabels: {app: web}}", "{}")),
            "test.yaml: document 1: ReplicaSet \"web\" is invalid: spec.selector: Invalid value: \"{}\": empty selector is invalid for deployment"
        );
        assert!(
            parse_err(&RS.replace("{matchLabels: {app: web}}", "{matchLabels: {app: db}}"))
                .ends_with("spec.template.metadata.labels: Invalid value: \"{\"app\": \"web\"}\": `selector` does not match template `labels`"),
        );
        let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: -web}, ports: [{port: 80}]}\n";
        assert!(
            parse_err(service).starts_with(
                "test.yaml: document 1: Service \"web\" is invalid: spec.selector.app: Invalid value: \"-web\": a valid label must be"
            ),
            "{}",
            parse_err(service)
        );
        let no_ports =
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n";
        assert_eq!(
            parse_err(no_ports),
            "test.yaml: document 1: Service \"web\" is invalid: spec.ports: Required value"
        );
        let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: old}\nspec: {selector: {app: old}}\n";
        assert_eq!(
            parse_err(rc),
            "test.yaml: document 1: ReplicationController \"old\" is invalid: spec.template: Required value"
        );
    }

    #[test]
    fn a_pod_has_at_most_one_controller() {
        let owned = POD.replace(
            "metadata: {name: web}",
            "metadata:\n  name: web\n  ownerReferences:\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: a, uid: u1, controller: true}\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: b, uid: '', controller: true}",
        );
        assert_eq!(
            parse_err(&owned),
            "test.yaml: document 1: Pod \"web\" is invalid: [metadata.ownerReferences[1].uid: Required value: must not be empty, metadata.ownerReferences: Invalid value: \"ReplicaSet/b\": Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b]"
        );
    }
}

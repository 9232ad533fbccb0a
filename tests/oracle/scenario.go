package main

// Reading a scenario file: the multi-document YAML (or JSON) of Nodes, Pods,
// Namespaces, PriorityClasses, Services, ReplicationControllers, ReplicaSets,
// StatefulSets and PodDisruptionBudgets, and for the volume and DRA plugins
// StorageClasses, PersistentVolumes, PersistentVolumeClaims, CSINodes,
// CSIDrivers, VolumeAttachments, CSIStorageCapacities, DeviceClasses, ResourceSlices and ResourceClaims, that
// `kube-wasm-scheduler simulate` and `explain` read,
// turned into the objects the apiserver would store:
// defaulted by the apiserver's own defaulting functions, with the admission
// steps that change what the scheduler sees (priority from the class, the
// default not-ready/unreachable tolerations, a claim's default
// StorageClass).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	_ "k8s.io/kubernetes/pkg/apis/resource/install"
	_ "k8s.io/kubernetes/pkg/apis/scheduling/install"
	_ "k8s.io/kubernetes/pkg/apis/storage/install"
	"k8s.io/utils/ptr"
)

// Scenario is a cluster as the scheduler sees it.
type Scenario struct {
	Nodes      []*v1.Node
	Pods       []*v1.Pod
	Namespaces []*v1.Namespace
	// What PodTopologySpread's default constraints take their selector
	// from (helper.DefaultSelector).
	Services               []*v1.Service
	ReplicationControllers []*v1.ReplicationController
	ReplicaSets            []*appsv1.ReplicaSet
	StatefulSets           []*appsv1.StatefulSet
	// What DefaultPreemption counts violations against, status included
	// (disruptionsAllowed is the disruption controller's, read as given).
	PodDisruptionBudgets []*policyv1.PodDisruptionBudget
	// What the volume plugins read (VolumeRestrictions, NodeVolumeLimits,
	// VolumeZone, VolumeBinding), status included: a claim is bound when
	// the PV controller has said so (spec.volumeName, the
	// pv.kubernetes.io/bind-completed annotation, phase Bound).
	StorageClasses         []*storagev1.StorageClass
	PersistentVolumes      []*v1.PersistentVolume
	PersistentVolumeClaims []*v1.PersistentVolumeClaim
	CSINodes               []*storagev1.CSINode
	CSIDrivers             []*storagev1.CSIDriver
	// NodeVolumeLimits counts the volumes VolumeAttachments attach to a
	// node; VolumeBinding checks CSIStorageCapacities for provisioning.
	VolumeAttachments    []*storagev1.VolumeAttachment
	CSIStorageCapacities []*storagev1.CSIStorageCapacity
	// What DynamicResources reads; a claim's status (allocation,
	// reservedFor) as given.
	DeviceClasses  []*resourcev1.DeviceClass
	ResourceSlices []*resourcev1.ResourceSlice
	ResourceClaims []*resourcev1.ResourceClaim
}

// defaultTolerationSeconds is what the DefaultTolerationSeconds admission
// plugin gives pods for the not-ready and unreachable taints.
const defaultTolerationSeconds = 300

var admissionTaints = []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}

// readScenario reads and defaults the objects of a scenario file.
func readScenario(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Scenario
	var classes []*schedulingv1.PriorityClass
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
			continue
		}
		if err := s.add(raw, &classes); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
	}
	for _, pod := range s.Pods {
		if err := admit(pod, classes); err != nil {
			return nil, fmt.Errorf("%s: pod %s/%s: %w", path, pod.Namespace, pod.Name, err)
		}
	}
	s.defaultStorageClass()
	return &s, nil
}

func (s *Scenario) add(raw json.RawMessage, classes *[]*schedulingv1.PriorityClass) error {
	var meta struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return err
	}
	switch meta.Kind {
	case "List":
		for i, item := range meta.Items {
			if err := s.add(item, classes); err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
	case "Node":
		node := &v1.Node{}
		if err := decodeStrict(raw, node); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(node)
		s.Nodes = append(s.Nodes, node)
	case "Pod":
		pod := &v1.Pod{}
		if err := decodeStrict(raw, pod); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(pod)
		if pod.Namespace == "" {
			pod.Namespace = "default"
		}
		if pod.UID == "" {
			pod.UID = types.UID(pod.Namespace + "/" + pod.Name)
		}
		s.Pods = append(s.Pods, pod)
	case "Namespace":
		ns := &v1.Namespace{}
		if err := decodeStrict(raw, ns); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(ns)
		s.Namespaces = append(s.Namespaces, ns)
	case "Service":
		svc := &v1.Service{}
		if err := decodeNamespaced(raw, svc, &svc.ObjectMeta); err != nil {
			return err
		}
		s.Services = append(s.Services, svc)
	case "ReplicationController":
		rc := &v1.ReplicationController{}
		if err := decodeNamespaced(raw, rc, &rc.ObjectMeta); err != nil {
			return err
		}
		s.ReplicationControllers = append(s.ReplicationControllers, rc)
	case "ReplicaSet":
		rs := &appsv1.ReplicaSet{}
		if err := decodeNamespaced(raw, rs, &rs.ObjectMeta); err != nil {
			return err
		}
		s.ReplicaSets = append(s.ReplicaSets, rs)
	case "StatefulSet":
		ss := &appsv1.StatefulSet{}
		if err := decodeNamespaced(raw, ss, &ss.ObjectMeta); err != nil {
			return err
		}
		s.StatefulSets = append(s.StatefulSets, ss)
	case "PodDisruptionBudget":
		pdb := &policyv1.PodDisruptionBudget{}
		if err := decodeNamespaced(raw, pdb, &pdb.ObjectMeta); err != nil {
			return err
		}
		s.PodDisruptionBudgets = append(s.PodDisruptionBudgets, pdb)
	case "StorageClass":
		sc := &storagev1.StorageClass{}
		if err := decodeStrict(raw, sc); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(sc)
		s.StorageClasses = append(s.StorageClasses, sc)
	case "PersistentVolume":
		pv := &v1.PersistentVolume{}
		if err := decodeStrict(raw, pv); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(pv)
		if pv.UID == "" {
			pv.UID = types.UID(pv.Name)
		}
		s.PersistentVolumes = append(s.PersistentVolumes, pv)
	case "PersistentVolumeClaim":
		pvc := &v1.PersistentVolumeClaim{}
		if err := decodeNamespaced(raw, pvc, &pvc.ObjectMeta); err != nil {
			return err
		}
		if pvc.UID == "" {
			pvc.UID = types.UID(pvc.Namespace + "/" + pvc.Name)
		}
		s.PersistentVolumeClaims = append(s.PersistentVolumeClaims, pvc)
	case "CSINode":
		node := &storagev1.CSINode{}
		if err := decodeStrict(raw, node); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(node)
		s.CSINodes = append(s.CSINodes, node)
	case "CSIDriver":
		driver := &storagev1.CSIDriver{}
		if err := decodeStrict(raw, driver); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(driver)
		s.CSIDrivers = append(s.CSIDrivers, driver)
	case "VolumeAttachment":
		attachment := &storagev1.VolumeAttachment{}
		if err := decodeStrict(raw, attachment); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(attachment)
		s.VolumeAttachments = append(s.VolumeAttachments, attachment)
	case "CSIStorageCapacity":
		capacity := &storagev1.CSIStorageCapacity{}
		if err := decodeNamespaced(raw, capacity, &capacity.ObjectMeta); err != nil {
			return err
		}
		s.CSIStorageCapacities = append(s.CSIStorageCapacities, capacity)
	case "DeviceClass":
		class := &resourcev1.DeviceClass{}
		if err := decodeStrict(raw, class); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(class)
		s.DeviceClasses = append(s.DeviceClasses, class)
	case "ResourceSlice":
		slice := &resourcev1.ResourceSlice{}
		if err := decodeStrict(raw, slice); err != nil {
			return err
		}
		legacyscheme.Scheme.Default(slice)
		s.ResourceSlices = append(s.ResourceSlices, slice)
	case "ResourceClaim":
		claim := &resourcev1.ResourceClaim{}
		if err := decodeNamespaced(raw, claim, &claim.ObjectMeta); err != nil {
			return err
		}
		if claim.UID == "" {
			claim.UID = types.UID(claim.Namespace + "/" + claim.Name)
		}
		s.ResourceClaims = append(s.ResourceClaims, claim)
	case "PriorityClass":
		pc := &schedulingv1.PriorityClass{}
		if err := decodeStrict(raw, pc); err != nil {
			return err
		}
		*classes = append(*classes, pc)
	default:
		return fmt.Errorf("kind %q: a scenario holds Node, Pod, Namespace, PriorityClass, Service, ReplicationController, ReplicaSet, StatefulSet, PodDisruptionBudget, StorageClass, PersistentVolume, PersistentVolumeClaim, CSINode, CSIDriver, VolumeAttachment, CSIStorageCapacity, DeviceClass, ResourceSlice and ResourceClaim objects", meta.Kind)
	}
	return nil
}

// decodeNamespaced decodes a namespaced object strictly, applies the
// apiserver's defaulting (a ReplicationController's selector from its
// template's labels, ...) and puts it in `default` when it names no
// namespace.
func decodeNamespaced(raw json.RawMessage, into runtime.Object, meta *metav1.ObjectMeta) error {
	if err := decodeStrict(raw, into); err != nil {
		return err
	}
	legacyscheme.Scheme.Default(into)
	if meta.Namespace == "" {
		meta.Namespace = "default"
	}
	return nil
}

func decodeStrict(raw json.RawMessage, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	return decoder.Decode(into)
}

// admit applies what the apiserver does to a new pod that changes what the
// scheduler sees: the Priority (priority and preemption policy from the
// class) and DefaultTolerationSeconds admission plugins, and the pod strategy's merge of matchLabelKeys and
// mismatchLabelKeys into label selectors.
func admit(pod *v1.Pod, classes []*schedulingv1.PriorityClass) error {
	if pod.Spec.Priority == nil {
		var priority int32
		policy := v1.PreemptLowerPriority
		switch name := pod.Spec.PriorityClassName; name {
		case "system-node-critical":
			priority = 2000001000
		case "system-cluster-critical":
			priority = 2000000000
		case "":
			for _, c := range classes {
				if c.GlobalDefault {
					priority = c.Value
					policy = classPolicy(c)
				}
			}
		default:
			found := false
			for _, c := range classes {
				if c.Name == name {
					priority, found = c.Value, true
					policy = classPolicy(c)
				}
			}
			if !found {
				return fmt.Errorf("no PriorityClass with name %s was found", name)
			}
		}
		pod.Spec.Priority = ptr.To(priority)
		pod.Spec.PreemptionPolicy = &policy
	}
	mergeLabelKeys(pod)
	for _, key := range admissionTaints {
		tolerated := false
		for _, t := range pod.Spec.Tolerations {
			if (t.Key == key || t.Key == "") &&
				(t.Effect == "" || t.Effect == v1.TaintEffectNoExecute) {
				tolerated = true
			}
		}
		if !tolerated {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, v1.Toleration{
				Key:               key,
				Operator:          v1.TolerationOpExists,
				Effect:            v1.TaintEffectNoExecute,
				TolerationSeconds: ptr.To[int64](defaultTolerationSeconds),
			})
		}
	}
	return nil
}

// defaultStorageClass does what the DefaultStorageClass admission plugin
// does to a new claim that names no class (spec.storageClassName absent, not
// ""): it gets the default class, as volumeutil.GetDefaultClass picks it
// (that package is not imported for this: it pulls in mount and SELinux
// code): of the classes annotated storageclass.kubernetes.io/is-default-class
// (or the beta annotation) "true", the newest, then the first by name.
func (s *Scenario) defaultStorageClass() {
	var class *storagev1.StorageClass
	for _, c := range s.StorageClasses {
		if c.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" &&
			c.Annotations["storageclass.beta.kubernetes.io/is-default-class"] != "true" {
			continue
		}
		if class == nil {
			class = c
			continue
		}
		a, b := c.CreationTimestamp.UnixNano(), class.CreationTimestamp.UnixNano()
		if a > b || (a == b && c.Name < class.Name) {
			class = c
		}
	}
	if class == nil {
		return
	}
	for _, pvc := range s.PersistentVolumeClaims {
		if pvc.Spec.StorageClassName == nil {
			pvc.Spec.StorageClassName = ptr.To(class.Name)
		}
	}
}

// classPolicy is the preemption policy a class gives its pods
// (PreemptLowerPriority when it names none, as the class's defaulting does).
func classPolicy(c *schedulingv1.PriorityClass) v1.PreemptionPolicy {
	if c.PreemptionPolicy != nil {
		return *c.PreemptionPolicy
	}
	return v1.PreemptLowerPriority
}

// pending returns the pod `namespace/name` of the scenario, which must not
// be bound yet.
func (s *Scenario) pending(ref string) (*v1.Pod, error) {
	namespace, name, ok := strings.Cut(ref, "/")
	if !ok {
		namespace, name = "default", ref
	}
	for _, pod := range s.Pods {
		if pod.Namespace == namespace && pod.Name == name {
			if pod.Spec.NodeName != "" {
				return nil, fmt.Errorf("pod %s is already bound to node %s", ref, pod.Spec.NodeName)
			}
			return pod, nil
		}
	}
	return nil, fmt.Errorf("no pod %s in the scenario", ref)
}

// bound returns the pods the scheduler's cache would hold: bound to a node
// and not finished (kube-scheduler's informer leaves out Succeeded and
// Failed pods).
func (s *Scenario) bound() []*v1.Pod {
	var pods []*v1.Pod
	for _, pod := range s.Pods {
		if pod.Spec.NodeName == "" || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		pods = append(pods, pod)
	}
	return pods
}

// mergeLabelKeys does what the apiserver's pod strategy does on create
// (PrepareForCreate, features MatchLabelKeysInPodAffinity and
// MatchLabelKeysInPodTopologySpreadSelectorMerge, both on in v1.37): for
// each key of matchLabelKeys (mismatchLabelKeys) the pod has a label for,
// `key In (value)` (`NotIn`) is appended to the term's label selector. A nil
// selector stays nil (it matches nothing either way). kube-scheduler relies
// on this for pod affinity, so a pod that skipped it would be scheduled as
// if the keys were not there.
func mergeLabelKeys(pod *v1.Pod) {
	apply := func(selector *metav1.LabelSelector, keys []string, op metav1.LabelSelectorOperator) {
		for _, key := range keys {
			if value, ok := pod.Labels[key]; ok {
				selector.MatchExpressions = append(selector.MatchExpressions,
					metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: []string{value}})
			}
		}
	}
	term := func(t *v1.PodAffinityTerm) {
		if t.LabelSelector == nil {
			return
		}
		apply(t.LabelSelector, t.MatchLabelKeys, metav1.LabelSelectorOpIn)
		apply(t.LabelSelector, t.MismatchLabelKeys, metav1.LabelSelectorOpNotIn)
	}
	if a := pod.Spec.Affinity; a != nil {
		for _, affinity := range []*v1.PodAffinity{a.PodAffinity, (*v1.PodAffinity)(a.PodAntiAffinity)} {
			if affinity == nil {
				continue
			}
			for i := range affinity.RequiredDuringSchedulingIgnoredDuringExecution {
				term(&affinity.RequiredDuringSchedulingIgnoredDuringExecution[i])
			}
			for i := range affinity.PreferredDuringSchedulingIgnoredDuringExecution {
				term(&affinity.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm)
			}
		}
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.LabelSelector != nil {
			apply(c.LabelSelector, c.MatchLabelKeys, metav1.LabelSelectorOpIn)
		}
	}
}

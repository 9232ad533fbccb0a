package main

// One pod's scheduling cycle through kube-scheduler's own framework and
// in-tree plugins, reported for every node: the same steps as
// schedule_one.go (PreFilter, Filter on each node, PreScore, Score,
// NormalizeScore, weights), with percentageOfNodesToScore at 100% so that
// no node is left out.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodevolumelimits"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// Explanation is the shared explain format (see README.md of this folder).
type Explanation struct {
	Pod       string        `json:"pod"`
	PreFilter StatusJSON    `json:"preFilter"`
	Nodes     []NodeVerdict `json:"nodes"`
	// DefaultPreemption's verdict when no node fits and the plugin is
	// among those run; absent otherwise.
	Preemption *PreemptionJSON `json:"preemption,omitempty"`
}

type StatusJSON struct {
	Code    string   `json:"code"`
	Plugin  string   `json:"plugin"`
	Reasons []string `json:"reasons"`
}

type NodeVerdict struct {
	Name     string         `json:"name"`
	Filters  []FilterResult `json:"filters"`
	Feasible bool           `json:"feasible"`
	Scores   []PluginScore  `json:"scores"`
	Total    *int64         `json:"total"`
}

type FilterResult struct {
	Plugin  string   `json:"plugin"`
	Code    string   `json:"code"`
	Reasons []string `json:"reasons"`
}

type PluginScore struct {
	Plugin     string `json:"plugin"`
	Raw        int64  `json:"raw"`
	Normalized int64  `json:"normalized"`
	Weight     int64  `json:"weight"`
}

// alwaysKept are default plugins that decide nothing for a single pod's
// placement but that a profile needs (a queue sort and a binder).
var alwaysKept = []string{names.PrioritySort, names.DefaultBinder}

// placementPlugins are the plugins of the default profile that decide
// where a pod goes, in the default profile's order: the others
// (DefaultPreemption and the pod-group plugins behind feature gates) decide
// what happens when no node fits or to a group.
var placementPlugins = []string{
	names.NodeName, names.NodeUnschedulable, names.TaintToleration, names.NodeAffinity,
	names.NodePorts, names.NodeResourcesFit, names.VolumeRestrictions, names.NodeVolumeLimits,
	names.VolumeBinding, names.VolumeZone, names.PodTopologySpread, names.InterPodAffinity,
	names.DynamicResources, names.NodeResourcesBalancedAllocation, names.ImageLocality,
}

// defaultProfile is kube-scheduler's default profile, restricted to
// `only` (the placementPlugins when empty). It fails on a name that is not in the
// default profile, so a typo cannot silently compare nothing.
func defaultProfile(only []string) (*config.KubeSchedulerProfile, error) {
	cfg, err := latest.Default()
	if err != nil {
		return nil, err
	}
	profile := cfg.Profiles[0]
	if len(only) == 0 {
		only = placementPlugins
	}
	keep := sets.New(only...)
	known := sets.New[string]()
	var enabled []config.Plugin
	for _, p := range profile.Plugins.MultiPoint.Enabled {
		known.Insert(p.Name)
		if keep.Has(p.Name) || sets.New(alwaysKept...).Has(p.Name) {
			enabled = append(enabled, p)
		}
	}
	if missing := keep.Difference(known); missing.Len() > 0 {
		return nil, fmt.Errorf("not in kube-scheduler's default profile: %s (it has %s)",
			strings.Join(sets.List(missing), ", "), strings.Join(sets.List(known), ", "))
	}
	profile.Plugins = &config.Plugins{MultiPoint: config.PluginSet{Enabled: enabled}}
	return &profile, nil
}

// explain runs one cycle for the pending pod `ref` of the scenario.
func explain(ctx context.Context, s *Scenario, ref string, only []string) (*Explanation, error) {
	pod, err := s.pending(ref)
	if err != nil {
		return nil, err
	}
	profile, err := defaultProfile(only)
	if err != nil {
		return nil, err
	}
	snapshot := cache.NewSnapshot(s.bound(), s.Nodes)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The informers list and watch an in-memory clientset that holds the
	// scenario's objects, so that every lister, assume cache and tracker
	// the plugins build on them sees what kube-scheduler's would; nothing
	// connects anywhere.
	client := fake.NewSimpleClientset(s.objects()...)
	factory := informers.NewSharedInformerFactory(client, 0)
	// Requested before the framework, so that they start with the rest:
	// the namespace lister (InterPodAffinity), what PodTopologySpread's
	// default constraints select from (helper.DefaultSelector) and the
	// PodDisruptionBudgets preemption counts.
	factory.Core().V1().Namespaces().Informer()
	factory.Core().V1().Services().Informer()
	factory.Core().V1().ReplicationControllers().Informer()
	factory.Apps().V1().ReplicaSets().Informer()
	factory.Apps().V1().StatefulSets().Informer()
	factory.Policy().V1().PodDisruptionBudgets().Informer()
	dra, err := newDRA(ctx, client, factory)
	if err != nil {
		return nil, err
	}
	defer dra.stop()
	f, err := frameworkruntime.NewFramework(ctx, plugins.NewInTreeRegistry(), profile,
		frameworkruntime.WithSnapshotSharedLister(snapshot),
		frameworkruntime.WithMutableSnapshotLister(snapshot),
		frameworkruntime.WithPodNominator(noNominations{}),
		frameworkruntime.WithInformerFactory(factory),
		frameworkruntime.WithClientSet(client),
		frameworkruntime.WithSharedDRAManager(dra.manager),
		frameworkruntime.WithSharedCSIManager(nodevolumelimits.NewCSIManager(factory.Storage().V1().CSINodes().Lister())),
		frameworkruntime.WithParallelism(1),
	)
	if err != nil {
		return nil, fmt.Errorf("building kube-scheduler's framework: %w", err)
	}
	defer f.Close()
	factory.Start(ctx.Done())
	defer func() {
		// The informers stop when the context ends; wait for them.
		cancel()
		factory.Shutdown()
	}()
	if err := factory.WaitForCacheSyncWithContext(ctx).AsError(); err != nil {
		return nil, fmt.Errorf("informers: %w", err)
	}
	if err := dra.synced(ctx); err != nil {
		return nil, err
	}

	weights := map[string]int64{}
	for _, p := range f.ListPlugins().Score.Enabled {
		weights[p.Name] = int64(p.Weight)
	}
	var filterOrder []string
	for _, p := range f.ListPlugins().Filter.Enabled {
		filterOrder = append(filterOrder, p.Name)
	}

	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		return nil, err
	}
	sort.Slice(nodeInfos, func(i, j int) bool { return nodeInfos[i].Node().Name < nodeInfos[j].Node().Name })
	out := &Explanation{
		Pod:       pod.Namespace + "/" + pod.Name,
		PreFilter: StatusJSON{Code: fwk.Success.String(), Reasons: []string{}},
		Nodes:     make([]NodeVerdict, len(nodeInfos)),
	}
	for i, n := range nodeInfos {
		out.Nodes[i] = NodeVerdict{Name: n.Node().Name, Filters: []FilterResult{}, Scores: []PluginScore{}}
	}

	preempting := false
	for _, p := range profile.Plugins.MultiPoint.Enabled {
		preempting = preempting || p.Name == names.DefaultPreemption
	}
	// What each node said, for DefaultPreemption, as schedule_one.go's
	// Diagnosis holds it.
	statuses := framework.NewDefaultNodeToStatus()
	state := framework.NewCycleState()
	unschedulable := func() (*Explanation, error) {
		if preempting {
			preemption, err := preempt(ctx, f, profile, state, pod, statuses)
			if err != nil {
				return nil, fmt.Errorf("DefaultPreemption: %w", err)
			}
			out.Preemption = preemption
		}
		return out, nil
	}

	preResult, status, narrowing := f.RunPreFilterPlugins(ctx, state, pod)
	if !status.IsSuccess() {
		plugin := status.Plugin()
		if plugin == "" {
			plugin = strings.Join(sets.List(narrowing), ",")
		}
		out.PreFilter = StatusJSON{Code: status.Code().String(), Plugin: plugin, Reasons: reasons(status)}
		statuses.SetAbsentNodesStatus(status)
		return unschedulable()
	}
	skipped := state.GetSkipFilterPlugins()
	var feasible []fwk.NodeInfo
	var feasibleAt []int
	for i, nodeInfo := range nodeInfos {
		verdict := &out.Nodes[i]
		if !preResult.AllNodes() && !preResult.NodeNames.Has(nodeInfo.Node().Name) {
			left := fwk.NewStatus(fwk.UnschedulableAndUnresolvable, fmt.Sprintf("node(s) didn't satisfy plugin(s) %v", sets.List(narrowing)))
			verdict.Filters = append(verdict.Filters, FilterResult{
				Plugin:  strings.Join(sets.List(narrowing), ","),
				Code:    left.Code().String(),
				Reasons: reasons(left),
			})
			statuses.Set(nodeInfo.Node().Name, left)
			continue
		}
		status := f.RunFilterPlugins(ctx, state, pod, nodeInfo)
		if !status.IsSuccess() {
			statuses.Set(nodeInfo.Node().Name, status)
		}
		for _, name := range filterOrder {
			if skipped.Has(name) {
				continue
			}
			if !status.IsSuccess() && status.Plugin() == name {
				verdict.Filters = append(verdict.Filters, FilterResult{Plugin: name, Code: status.Code().String(), Reasons: reasons(status)})
				break
			}
			verdict.Filters = append(verdict.Filters, FilterResult{Plugin: name, Code: fwk.Success.String(), Reasons: []string{}})
		}
		if status.IsSuccess() {
			verdict.Feasible = true
			feasible = append(feasible, nodeInfo)
			feasibleAt = append(feasibleAt, i)
		}
	}
	if len(feasible) == 0 {
		return unschedulable()
	}
	if status := f.RunPreScorePlugins(ctx, state, pod, feasible); !status.IsSuccess() {
		return nil, fmt.Errorf("PreScore: %w", status.AsError())
	}
	scores, status := f.RunScorePlugins(ctx, state, pod, feasible)
	if !status.IsSuccess() {
		return nil, fmt.Errorf("Score: %w", status.AsError())
	}
	for k, nodeScores := range scores {
		verdict := &out.Nodes[feasibleAt[k]]
		var total int64
		for j, weighted := range nodeScores.Scores {
			weight := weights[weighted.Name]
			verdict.Scores = append(verdict.Scores, PluginScore{
				Plugin:     weighted.Name,
				Raw:        nodeScores.RawScores[j].Score,
				Normalized: weighted.Score / weight,
				Weight:     weight,
			})
			total += weighted.Score
		}
		verdict.Total = &total
	}
	return out, nil
}

func reasons(s *fwk.Status) []string {
	if r := s.Reasons(); r != nil {
		return r
	}
	return []string{}
}

// asObjects lists typed objects as runtime.Objects.
func asObjects[T runtime.Object](items []T) []runtime.Object {
	objects := make([]runtime.Object, len(items))
	for i, item := range items {
		objects[i] = item
	}
	return objects
}

// objects is every object of the scenario, for the clientset the informers
// read.
func (s *Scenario) objects() []runtime.Object {
	var all []runtime.Object
	for _, kind := range [][]runtime.Object{
		asObjects(s.Nodes), asObjects(s.Pods), asObjects(s.Namespaces),
		asObjects(s.Services), asObjects(s.ReplicationControllers), asObjects(s.ReplicaSets),
		asObjects(s.StatefulSets), asObjects(s.PodDisruptionBudgets),
		asObjects(s.StorageClasses), asObjects(s.PersistentVolumes), asObjects(s.PersistentVolumeClaims),
		asObjects(s.CSINodes), asObjects(s.CSIDrivers),
		asObjects(s.VolumeAttachments), asObjects(s.CSIStorageCapacities),
		asObjects(s.DeviceClasses), asObjects(s.ResourceSlices), asObjects(s.ResourceClaims),
	} {
		all = append(all, kind...)
	}
	return all
}

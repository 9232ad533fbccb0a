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
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"
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
// where a pod without volumes goes, in the default profile's order. The
// others (the volume plugins, DynamicResources, DefaultPreemption and the
// pod-group plugins behind feature gates) have nothing to decide for such a
// pod, and some need informers of their own.
var placementPlugins = []string{
	names.NodeName, names.NodeUnschedulable, names.TaintToleration, names.NodeAffinity,
	names.NodePorts, names.NodeResourcesFit, names.PodTopologySpread, names.InterPodAffinity,
	names.NodeResourcesBalancedAllocation, names.ImageLocality,
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
	// The informers are filled by hand and never started: nothing connects
	// to the address below.
	client, err := kubernetes.NewForConfig(&restclient.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	namespaces := factory.Core().V1().Namespaces().Informer().GetIndexer()
	for _, ns := range s.Namespaces {
		if err := namespaces.Add(ns); err != nil {
			return nil, err
		}
	}
	// PodTopologySpread's default constraints select what the Services and
	// controllers selecting the pod select (helper.DefaultSelector).
	for _, objects := range []struct {
		indexer toolscache.Indexer
		items   []runtime.Object
	}{
		{factory.Core().V1().Services().Informer().GetIndexer(), asObjects(s.Services)},
		{factory.Core().V1().ReplicationControllers().Informer().GetIndexer(), asObjects(s.ReplicationControllers)},
		{factory.Apps().V1().ReplicaSets().Informer().GetIndexer(), asObjects(s.ReplicaSets)},
		{factory.Apps().V1().StatefulSets().Informer().GetIndexer(), asObjects(s.StatefulSets)},
		{factory.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer(), asObjects(s.PodDisruptionBudgets)},
	} {
		for _, o := range objects.items {
			if err := objects.indexer.Add(o); err != nil {
				return nil, err
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f, err := frameworkruntime.NewFramework(ctx, plugins.NewInTreeRegistry(), profile,
		frameworkruntime.WithSnapshotSharedLister(snapshot),
		frameworkruntime.WithMutableSnapshotLister(snapshot),
		frameworkruntime.WithPodNominator(noNominations{}),
		frameworkruntime.WithInformerFactory(factory),
		frameworkruntime.WithClientSet(client),
		frameworkruntime.WithParallelism(1),
	)
	if err != nil {
		return nil, fmt.Errorf("building kube-scheduler's framework: %w", err)
	}
	defer f.Close()

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

// asObjects lists typed objects as runtime.Objects, for an indexer.
func asObjects[T runtime.Object](items []T) []runtime.Object {
	objects := make([]runtime.Object, len(items))
	for i, item := range items {
		objects[i] = item
	}
	return objects
}

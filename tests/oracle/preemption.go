package main

// DefaultPreemption's dry run for a pod no node fits: kube-scheduler's own
// plugin and preemption Evaluator, the steps of Evaluator.evaluate
// (preemption.go) without the actuation that follows it in Preempt (no
// victim is deleted, nothing is patched), and the message DefaultPreemption's
// PostFilter gives the scheduler.

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultpreemption"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"
	"k8s.io/kubernetes/pkg/scheduler/framework/preemption"

	v1 "k8s.io/api/core/v1"
)

// PreemptionJSON is what PostFilter said: the message after "preemption: ",
// the node the pod would be nominated to ("" when none) and the victims,
// sorted, as namespace/name.
type PreemptionJSON struct {
	Message string   `json:"message"`
	Node    string   `json:"node"`
	Victims []string `json:"victims"`
}

// preempt runs DefaultPreemption's evaluation for `pod` after a cycle in
// which no node fit: `statuses` holds each node's Filter (or PreFilter)
// status and `state` the cycle's state after PreFilter. The budgets are
// the ones in the framework's informer factory.
//
// The dry run visits the potential nodes sorted by name from offset 0,
// where kube-scheduler starts at a random offset into its node list
// (GetOffsetAndNumCandidates): with fewer potential nodes than the number
// of candidates it shortlists (max(10%, 100) by default) every node is
// visited either way, so the offset cannot change the outcome.
func preempt(ctx context.Context, f framework.Framework, profile *config.KubeSchedulerProfile, state fwk.CycleState,
	pod *v1.Pod, statuses *framework.NodeToStatus) (*PreemptionJSON, error) {
	var args *config.DefaultPreemptionArgs
	for _, pc := range profile.PluginConfig {
		if pc.Name == names.DefaultPreemption {
			args, _ = pc.Args.(*config.DefaultPreemptionArgs)
		}
	}
	if args == nil {
		return nil, fmt.Errorf("no DefaultPreemptionArgs in kube-scheduler's default profile")
	}
	pl, err := defaultpreemption.New(ctx, args, f, feature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate))
	if err != nil {
		return nil, fmt.Errorf("building DefaultPreemption: %w", err)
	}
	ev := pl.Evaluator
	result := func(message string, c preemption.Candidate) *PreemptionJSON {
		out := &PreemptionJSON{Message: "preemption: " + message, Victims: []string{}}
		if c != nil {
			out.Node = c.Name()
			for _, v := range c.Victims().Pods {
				out.Victims = append(out.Victims, v.Namespace+"/"+v.Name)
			}
			sort.Strings(out.Victims)
		}
		return out
	}

	// 1) Eligibility.
	if ok, msg := ev.PodEligibleToPreemptOthers(ctx, pod, statuses.Get(pod.Status.NominatedNodeName)); !ok {
		return result(msg, nil), nil
	}
	// 2) Candidates.
	allNodes, err := f.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return nil, err
	}
	potential, err := statuses.NodesForStatusCode(f.SnapshotSharedLister().NodeInfos(), fwk.Unschedulable)
	if err != nil {
		return nil, err
	}
	sort.Slice(potential, func(i, j int) bool { return potential[i].Node().Name < potential[j].Node().Name })
	var candidates []preemption.Candidate
	dryRun := framework.NewDefaultNodeToStatus()
	if len(potential) > 0 {
		pdbs, err := ev.PdbLister.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		_, numCandidates := ev.GetOffsetAndNumCandidates(int32(len(potential)))
		candidates, dryRun, err = ev.DryRunPreemption(ctx, state, pod, potential, pdbs, 0, numCandidates)
		if err != nil && len(candidates) == 0 {
			return nil, err
		}
	}
	if len(candidates) == 0 {
		fitError := &framework.FitError{
			Pod:         pod,
			NumAllNodes: len(allNodes),
			Diagnosis:   framework.Diagnosis{NodeToStatus: dryRun},
		}
		fitError.Diagnosis.NodeToStatus.SetAbsentNodesStatus(fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "Preemption is not helpful for scheduling"))
		return result(fitError.Error(), nil), nil
	}
	// 3) No extenders. 4) The best candidate.
	best := ev.SelectCandidate(ctx, candidates)
	if best == nil || best.Name() == "" {
		return result("no candidate node for preemption", nil), nil
	}
	return result(fmt.Sprintf("found a potential placement for pod on node %v, preempting %d victims",
		best.Name(), len(best.Victims().Pods)), best), nil
}

// noNominations is the framework's PodNominator for one pod's cycle: no
// other pod is nominated to a node (the scenarios have no
// nominatedNodeName), so the dry run's filters see the nodes as they are.
type noNominations struct{}

func (noNominations) AddNominatedPod(klog.Logger, fwk.PodInfo, *fwk.NominatingInfo) {}
func (noNominations) DeleteNominatedPodIfExists(*v1.Pod)                            {}
func (noNominations) UpdateNominatedPod(klog.Logger, *v1.Pod, fwk.PodInfo)          {}
func (noNominations) NominatedPodsForNode(string) []fwk.PodInfo                     { return nil }

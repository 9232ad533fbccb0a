package main

// DynamicResources' shared state, built as scheduler.New builds it: the
// ResourceClaim assume cache, the ResourceSlice tracker and the DRA manager
// over them (which counts the devices allocated to claims), and, with
// DRAExtendedResource on, the DeviceClass cache of extended resource names.

import (
	"context"
	"errors"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/dynamic-resource-allocation/deviceclass/extendedresourcecache"
	resourceslicetracker "k8s.io/dynamic-resource-allocation/resourceslice/tracker"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/dynamicresources"
	"k8s.io/kubernetes/pkg/scheduler/util/assumecache"
)

type draState struct {
	// nil when the DynamicResourceAllocation gate is off, as upstream.
	manager fwk.SharedDRAManager
	// nil with the gate off; stopped when the explanation is done (it
	// starts an event broadcaster and goroutines of its own).
	tracker *resourceslicetracker.Tracker
	// What must have seen the informers' initial objects before a cycle
	// runs: the handlers feed caches asynchronously.
	waits []toolscache.DoneChecker
}

func newDRA(ctx context.Context, client kubernetes.Interface, factory informers.SharedInformerFactory) (*draState, error) {
	if !utilfeature.DefaultFeatureGate.Enabled(features.DynamicResourceAllocation) {
		return &draState{}, nil
	}
	logger := klog.FromContext(ctx)
	claims := assumecache.NewAssumeCache(logger, factory.Resource().V1().ResourceClaims().Informer(), "ResourceClaim", "", nil)
	opts := resourceslicetracker.Options{
		EnableDeviceTaintRules:   utilfeature.DefaultFeatureGate.Enabled(features.DRADeviceTaintRules),
		EnableConsumableCapacity: utilfeature.DefaultFeatureGate.Enabled(features.DRAConsumableCapacity),
		SliceInformer:            factory.Resource().V1().ResourceSlices(),
		KubeClient:               client,
	}
	if opts.EnableDeviceTaintRules {
		opts.TaintInformer = factory.Resource().V1().DeviceTaintRules()
	}
	tracker, err := resourceslicetracker.StartTracker(ctx, opts)
	if err != nil {
		return nil, err
	}
	manager := dynamicresources.NewDRAManager(ctx, claims, tracker, factory)
	state := &draState{manager: manager, tracker: tracker}
	// The DRA manager's count of allocated devices follows the claim cache.
	state.waits = append(state.waits, claims.AddEventHandler(toolscache.ResourceEventHandlerFuncs{}).HasSyncedChecker())
	// With DRADeviceTaintRules on (v1.37's default) the allocator lists the
	// tracker's patched copies of the slices, which its own handlers fill
	// after the informer has them: until it has synced, a node's devices
	// may be missing and the allocator refuses the node. kube-scheduler
	// waits for it through the handler it registers on the tracker
	// (eventhandlers.go, WaitForHandlersSync).
	state.waits = append(state.waits, tracker.HasSyncedChecker())
	if utilfeature.DefaultFeatureGate.Enabled(features.DRAExtendedResource) {
		// As eventhandlers.go chains it before the scheduler's handlers.
		classes := manager.DeviceClassResolver().(*extendedresourcecache.ExtendedResourceCache)
		registration, err := factory.Resource().V1().DeviceClasses().Informer().AddEventHandler(classes)
		if err != nil {
			return nil, err
		}
		state.waits = append(state.waits, registration.HasSyncedChecker())
	}
	return state, nil
}

// stop ends the tracker's background work; a no-op with the gate off.
func (d *draState) stop() {
	if d.tracker != nil {
		d.tracker.Stop()
	}
}

// synced waits until the caches fed by event handlers hold every object of
// the scenario.
func (d *draState) synced(ctx context.Context) error {
	if !toolscache.WaitFor(ctx, "", d.waits...) {
		return errors.New("the DRA caches did not sync")
	}
	return nil
}

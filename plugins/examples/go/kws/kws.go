// Package kws is a small guest-side SDK for kube-wasm-scheduler policies in
// Go (big Go, GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared).
//
// The kws:scheduler/plugin world (0.3.0) sends cluster changes once (apply)
// and the pod of a scheduling cycle once (cycle-start); every later call of
// the cycle carries only the cycle id and node ids. This package implements
// the exports of lifecycle, filter and score (abi.go), keeps the node table
// and each open cycle's pod (dropped at cycle-end), turns the WIT records
// into Go values and calls a Policy once per node. The component exports
// only those interfaces (`cargo xtask examples` embeds the world without the
// others), which the host accepts: it calls a plugin only at the points its
// metadata lists. A policy registers itself with Register from an init
// function; main stays empty.
//
// Faults: a panic in a policy ends the call as a fault of the plugin
// (host.fail) with the panic's value as its message; the host reports it as
// `plugin NAME panicked in filter: ...` and the profile's failurePolicy
// decides for the pod. An error from Plugin.Configure refuses the args.
package kws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Pod is the pod being scheduled: the fields of the WIT `pod` record a
// policy usually needs. Labels and annotations are maps.
type Pod struct {
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

// Node is a node of the plugin's copy of the cluster.
type Node struct {
	ID     uint32
	Name   string
	Labels map[string]string
}

// Code is a Filter status code, as in the WIT `code` enum.
type Code uint8

const (
	Success Code = iota
	Unschedulable
	UnschedulableAndUnresolvable
	Error
	Skip
)

// Status is a Filter verdict that rejects a node.
type Status struct {
	Code   Code
	Reason string
}

// ExtensionPoint is a WIT `extension-point`: the ones this package
// implements, with their values in the enum.
type ExtensionPoint uint8

const (
	Filter         ExtensionPoint = 2
	Score          ExtensionPoint = 5
	NormalizeScore ExtensionPoint = 6
)

// Level is a WIT `host.level`.
type Level uint8

const (
	Trace Level = iota
	Debug
	Info
	Warn
	Err
)

// Policy answers the host's questions about one node at a time.
type Policy interface {
	// Filter returns nil when the pod fits the node.
	Filter(pod *Pod, node *Node) *Status
	// Score is 0..=100.
	Score(pod *Pod, node *Node) int64
}

// Plugin describes a policy: its name, version, extension points, the
// fields its args may have, and how it is built from them.
type Plugin struct {
	Name            string
	Version         string
	ExtensionPoints []ExtensionPoint
	Fields          []string
	Configure       func(args Args) (Policy, error)
}

// Args are the plugin's pluginConfig args, a JSON object.
type Args map[string]json.RawMessage

// Int reads an integer field (fallback when absent) and checks it against
// low..=high.
func (a Args) Int(field string, fallback, low, high int64) (int64, error) {
	value := fallback
	if raw, ok := a[field]; ok {
		parsed, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: expected an integer", field)
		}
		value = parsed
	}
	if value < low || value > high {
		return 0, fmt.Errorf("%s: %d is not in %d..=%d", field, value, low, high)
	}
	return value, nil
}

// Log writes to the host's log; the host tags it with the plugin's name.
func Log(level Level, message string) {
	hostLog(level, message)
}

var (
	plugin     *Plugin
	policy     Policy
	nodes      = map[uint32]*Node{}
	configured bool
	// The pod of each open cycle, from cycle-start to cycle-end.
	cycles = map[uint64]*Pod{}
)

// Register makes p the component's plugin. Call it from an init function.
func Register(p *Plugin) {
	plugin = p
}

func configure(args string) error {
	if len(bytes.TrimSpace([]byte(args))) == 0 {
		args = "{}"
	}
	var parsed Args
	if err := json.Unmarshal([]byte(args), &parsed); err != nil || parsed == nil {
		return fmt.Errorf("invalid args: expected a JSON object")
	}
	for field := range parsed {
		known := false
		for _, f := range plugin.Fields {
			known = known || f == field
		}
		if !known {
			return fmt.Errorf("invalid args: unknown field `%s`", field)
		}
	}
	built, err := plugin.Configure(parsed)
	if err != nil {
		return fmt.Errorf("invalid args: %v", err)
	}
	policy, configured = built, true
	return nil
}

// reportPanic, deferred by each export that runs policy code, turns a panic
// into host.fail with the panic's value, so the host reports a fault of the
// call with its message: unrecovered, Go would print it to stderr, which
// the host does not grant, and the host would see a bare trap.
func reportPanic() {
	if r := recover(); r != nil {
		hostFail(fmt.Sprint(r))
	}
}

// node finds a node, or says why it cannot be asked about.
func node(id uint32) (*Node, error) {
	if !configured {
		return nil, fmt.Errorf("%s was called before configure", plugin.Name)
	}
	n, ok := nodes[id]
	if !ok {
		return nil, fmt.Errorf("%s has no node with id %d", plugin.Name, id)
	}
	return n, nil
}

type nodeStatus struct {
	node   uint32
	status Status
}

func cycleStart(cycle uint64, pod *Pod) {
	cycles[cycle] = pod
}

// cyclePod is the pod cycle-start sent for the cycle.
func cyclePod(cycle uint64) (*Pod, error) {
	pod, ok := cycles[cycle]
	if !ok {
		return nil, fmt.Errorf("%s was sent no pod for cycle %d", plugin.Name, cycle)
	}
	return pod, nil
}

func filter(cycle uint64, ids []uint32) []nodeStatus {
	var rejected []nodeStatus
	pod, err := cyclePod(cycle)
	if err != nil {
		for _, id := range ids {
			rejected = append(rejected, nodeStatus{id, Status{Error, err.Error()}})
		}
		return rejected
	}
	for _, id := range ids {
		n, err := node(id)
		if err != nil {
			rejected = append(rejected, nodeStatus{id, Status{Error, err.Error()}})
			continue
		}
		if status := policy.Filter(pod, n); status != nil && status.Code != Success {
			rejected = append(rejected, nodeStatus{id, *status})
		}
	}
	return rejected
}

func score(cycle uint64, ids []uint32) ([]int64, error) {
	pod, err := cyclePod(cycle)
	if err != nil {
		return nil, err
	}
	scores := make([]int64, len(ids))
	for i, id := range ids {
		n, err := node(id)
		if err != nil {
			return nil, err
		}
		scores[i] = policy.Score(pod, n)
	}
	return scores, nil
}

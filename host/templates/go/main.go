// {{Name}}: a kube-wasm-scheduler placement policy.
//
//   - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits
//     only nodes that carry a label KEY (any value).
//   - Score: a node labelled `disk: ssd` scores `preferred` (an arg, 0 to
//     100, default 100); every other node scores 0.
//
// Build: `kube-wasm-scheduler plugin build`; try it on the scenario:
// `kube-wasm-scheduler plugin test . --cluster scenario.yaml --expect
// expected.txt`. The kws package (kws/) is the helper that talks to the
// scheduler; this file is the policy.
package main

import (
	"fmt"

	"kws.plugin/{{package}}/kws"
)

const (
	requiredLabel  = "example.kws.dev/required-label"
	preferredKey   = "disk"
	preferredValue = "ssd"
)

type policy struct {
	preferred int64
}

// configure reads the args; an error refuses the configuration (the
// scheduler does not start with it, and prints the message).
func configure(args kws.Args) (kws.Policy, error) {
	var p policy
	var err error
	if p.preferred, err = args.Int("preferred", 100, 0, 100); err != nil {
		return nil, err
	}
	kws.Log(kws.Info, fmt.Sprintf("preferred nodes score %d", p.preferred))
	return &p, nil
}

func (p *policy) Filter(pod *kws.Pod, node *kws.Node) *kws.Status {
	key, ok := pod.Annotations[requiredLabel]
	if !ok {
		return nil
	}
	if _, has := node.Labels[key]; !has {
		return &kws.Status{Code: kws.UnschedulableAndUnresolvable, Reason: "node(s) didn't have label " + key}
	}
	return nil
}

func (p *policy) Score(pod *kws.Pod, node *kws.Node) int64 {
	if node.Labels[preferredKey] == preferredValue {
		return p.preferred
	}
	return 0
}

func init() {
	kws.Register(&kws.Plugin{
		Name:            "{{Name}}",
		Version:         "0.1.0",
		ExtensionPoints: []kws.ExtensionPoint{kws.Filter, kws.Score},
		Fields:          []string{"preferred"},
		Configure:       configure,
	})
}

func main() {}

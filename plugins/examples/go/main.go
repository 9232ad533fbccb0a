// LabelZone in Go: the example policy of plugins/examples/ (the Rust
// version, plugins/examples/rust/src/lib.rs, is the reference).
//
//   - Filter: a pod annotated `example.kws.dev/required-label: KEY` fits
//     only nodes that carry a label KEY.
//   - Score: a pod annotated `example.kws.dev/zone: ZONE` prefers nodes whose
//     `zone` label is ZONE; the scores (sameZone, otherZone, noZone) come
//     from the plugin's args.
//   - A pod annotated `example.kws.dev/fail: MESSAGE` makes Filter panic:
//     what the host does with a plugin's fault (docs/plugins.md, "Faults").
//
// Build: `cargo xtask examples` (GOOS=wasip1 -buildmode=c-shared, wrapped
// into a component with the deny-all WASI adapter in wasi-stub.wat).
package main

import (
	"fmt"

	"kws.example/labelzone/kws"
)

const (
	requiredLabel = "example.kws.dev/required-label"
	zone          = "example.kws.dev/zone"
	zoneLabel     = "zone"
	fail          = "example.kws.dev/fail"
)

type labelZone struct {
	sameZone, otherZone, noZone int64
}

func configure(args kws.Args) (kws.Policy, error) {
	var p labelZone
	var err error
	if p.sameZone, err = args.Int("sameZone", 100, 0, 100); err != nil {
		return nil, err
	}
	if p.otherZone, err = args.Int("otherZone", 0, 0, 100); err != nil {
		return nil, err
	}
	if p.noZone, err = args.Int("noZone", 0, 0, 100); err != nil {
		return nil, err
	}
	kws.Log(kws.Info, fmt.Sprintf("scores: same zone %d, other zone %d, no zone %d", p.sameZone, p.otherZone, p.noZone))
	return &p, nil
}

func (p *labelZone) Filter(pod *kws.Pod, node *kws.Node) *kws.Status {
	if message, ok := pod.Annotations[fail]; ok {
		panic(message)
	}
	key, ok := pod.Annotations[requiredLabel]
	if !ok {
		return nil
	}
	if _, has := node.Labels[key]; !has {
		return &kws.Status{Code: kws.UnschedulableAndUnresolvable, Reason: "node(s) didn't have label " + key}
	}
	return nil
}

func (p *labelZone) Score(pod *kws.Pod, node *kws.Node) int64 {
	want, ok := pod.Annotations[zone]
	if !ok {
		return 0
	}
	got, ok := node.Labels[zoneLabel]
	switch {
	case !ok:
		return p.noZone
	case got == want:
		return p.sameZone
	default:
		return p.otherZone
	}
}

func init() {
	kws.Register(&kws.Plugin{
		Name:            "LabelZone",
		Version:         "0.1.0",
		ExtensionPoints: []kws.ExtensionPoint{kws.Filter, kws.Score},
		Fields:          []string{"sameZone", "otherZone", "noZone"},
		Configure:       configure,
	})
}

func main() {}

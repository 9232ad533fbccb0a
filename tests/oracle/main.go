// Command oracle answers "where would kube-scheduler put this pod, and
// why" with kube-scheduler's own framework and default plugins from the
// k8s.io/kubernetes v1.37.2 module, for comparison with
// `kube-wasm-scheduler explain`. See README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("oracle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cluster := fs.String("cluster", "", "scenario file: Nodes, Pods, Namespaces, PriorityClasses (YAML or JSON)")
	pod := fs.String("pod", "", "the pending pod to explain, namespace/name")
	only := fs.String("plugins", "", "comma-separated plugins of the default profile to run (default: all)")
	output := fs.String("output", "text", "text or json")
	batch := fs.Bool("batch", false, `read requests as JSON lines on stdin, {"cluster": FILE, "pod": "ns/name", "plugins": [...]}, and answer each with one JSON line: the explanation or {"error": "..."}`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// The plugins log at V(4) and up; keep stderr for real errors.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	// The framework records into the scheduler's metrics, which must exist.
	metrics.Register()
	ctx := context.Background()
	if *batch {
		return serve(ctx, stdin, stdout, stderr)
	}
	if *cluster == "" || *pod == "" {
		fmt.Fprintln(stderr, "oracle: --cluster and --pod are required (or --batch)")
		return 2
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "oracle: --output %q: text or json\n", *output)
		return 2
	}
	result, err := explainFile(ctx, *cluster, *pod, splitList(*only))
	if err != nil {
		fmt.Fprintf(stderr, "oracle: %v\n", err)
		return 1
	}
	if *output == "json" {
		encoder := json.NewEncoder(stdout)
		encoder.SetIndent("", "  ")
		if err := encoder.Encode(result); err != nil {
			fmt.Fprintf(stderr, "oracle: %v\n", err)
			return 1
		}
		return 0
	}
	printText(stdout, result)
	return 0
}

func explainFile(ctx context.Context, path, pod string, only []string) (*Explanation, error) {
	scenario, err := readScenario(path)
	if err != nil {
		return nil, err
	}
	return explain(ctx, scenario, pod, only)
}

type request struct {
	Cluster string   `json:"cluster"`
	Pod     string   `json:"pod"`
	Plugins []string `json:"plugins"`
}

// serve answers batch requests until stdin ends, one line per request, so
// that a test can compare thousands of scenarios with one process.
func serve(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	scanner := bufio.NewScanner(stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	writer := bufio.NewWriter(stdout)
	encoder := json.NewEncoder(writer)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		var req request
		var answer any
		if err := json.Unmarshal([]byte(line), &req); err != nil {
			answer = map[string]string{"error": fmt.Sprintf("bad request %q: %v", line, err)}
		} else if result, err := explainFile(ctx, req.Cluster, req.Pod, req.Plugins); err != nil {
			answer = map[string]string{"error": err.Error()}
		} else {
			answer = result
		}
		if err := encoder.Encode(answer); err != nil {
			fmt.Fprintf(stderr, "oracle: %v\n", err)
			return 1
		}
		if err := writer.Flush(); err != nil {
			fmt.Fprintf(stderr, "oracle: %v\n", err)
			return 1
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintf(stderr, "oracle: reading requests: %v\n", err)
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// printText prints one row per node: the verdict (or the rejecting plugin
// and its reasons), each plugin's normalised score times its weight, and
// the total.
func printText(w io.Writer, e *Explanation) {
	fmt.Fprintf(w, "pod %s\n", e.Pod)
	if e.PreFilter.Code != "Success" {
		fmt.Fprintf(w, "PreFilter %s: %s: %s\n", e.PreFilter.Plugin, e.PreFilter.Code, strings.Join(e.PreFilter.Reasons, "; "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tFILTER\tSCORES\tTOTAL")
	for _, n := range e.Nodes {
		verdict := "feasible"
		if !n.Feasible {
			verdict = "-"
			if len(n.Filters) > 0 {
				last := n.Filters[len(n.Filters)-1]
				verdict = fmt.Sprintf("%s %s: %s", last.Plugin, last.Code, strings.Join(last.Reasons, "; "))
			}
		}
		var scores []string
		for _, s := range n.Scores {
			scores = append(scores, fmt.Sprintf("%s %d(raw %d)x%d", s.Plugin, s.Normalized, s.Raw, s.Weight))
		}
		total := "-"
		if n.Total != nil {
			total = fmt.Sprint(*n.Total)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, verdict, strings.Join(scores, ", "), total)
	}
	tw.Flush()
	if p := e.Preemption; p != nil {
		fmt.Fprintln(w, p.Message)
		if len(p.Victims) > 0 {
			fmt.Fprintf(w, "would preempt: %s\n", strings.Join(p.Victims, ", "))
		}
	}
}

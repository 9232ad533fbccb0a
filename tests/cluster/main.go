// Command testcluster runs a real Kubernetes control plane for the
// kube-wasm-scheduler tests: embedded etcd plus kube-apiserver (mode "serve"),
// the reference kube-scheduler (mode "scheduler"), the kube-controller-manager
// controllers that volume and DRA scheduling rely on (mode
// "controller-manager") and kubectl (mode "kubectl"), all built from the
// Kubernetes Go modules at one version.
//
// kube-apiserver and kube-scheduler each install the process-wide signal
// handler, which may happen only once per process, so every mode runs in its
// own process.
package main

import (
	"fmt"
	"os"
	"strings"

	// Registrations the upstream binaries make in their main packages.
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	_ "time/tzdata"
)

const usage = `usage: testcluster MODE [flags]

modes:
  serve      --kubeconfig PATH [--data DIR] [--port N] [--authorization RBAC|AlwaysAllow]
             [--users FILE] [--stop-on-stdin-eof] [-- extra kube-apiserver flags]
  scheduler  --kubeconfig PATH [--scheduler-name NAME] [--qps N] [--burst N]
             [--secure-port 0|auto|N] [--leader-elect] [--stop-on-stdin-eof]
             [-- extra kube-scheduler flags]
  controller-manager --kubeconfig PATH [--controllers LIST] [--stop-on-stdin-eof]
             [-- extra kube-controller-manager flags]
  kubeconfig --kubeconfig ADMIN --token TOKEN --out PATH [--user NAME]
  kubectl    ARGS...   (kubectl of the same Kubernetes version)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	mode, rest := os.Args[1], os.Args[2:]
	var code int
	switch mode {
	case "serve":
		code = runServe(rest)
	case "scheduler":
		code = runScheduler(rest)
	case "controller-manager":
		code = runControllerManager(rest)
	case "kubeconfig":
		code = runKubeconfig(rest)
	case "kubectl":
		code = runKubectl(rest)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "testcluster: unknown mode %q\n%s", mode, usage)
		code = 2
	}
	os.Exit(code)
}

func fatalf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "testcluster: "+strings.TrimSuffix(format, "\n")+"\n", args...)
	return 1
}

// splitPassthrough separates our own flags from the arguments after "--",
// which go to the wrapped Kubernetes component unchanged.
func splitPassthrough(args []string) (own, extra []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

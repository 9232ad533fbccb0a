package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"k8s.io/component-base/cli"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// runScheduler runs the upstream kube-scheduler against a kubeconfig, with a
// generated KubeSchedulerConfiguration. With --config the scheduler ignores
// --kubeconfig, --kube-api-qps/burst and --leader-elect, so everything goes
// into the file.
func runScheduler(args []string) int {
	own, extra := splitPassthrough(args)
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	name := fs.String("scheduler-name", "default-scheduler", "profiles[0].schedulerName")
	qps := fs.Float64("qps", 50, "clientConnection.qps")
	burst := fs.Int("burst", 100, "clientConnection.burst")
	securePort := fs.String("secure-port", "0", "0 (no HTTPS endpoint), auto (a free loopback port) or a port on 127.0.0.1")
	leaderElect := fs.Bool("leader-elect", false, "leaderElection.leaderElect")
	pctNodes := fs.Int("percentage-of-nodes-to-score", -1, "percentageOfNodesToScore (-1: leave the scheduler's default)")
	stopOnEOF := fs.Bool("stop-on-stdin-eof", false, "shut down when stdin reaches EOF (the parent went away)")
	if err := fs.Parse(own); err != nil {
		return 2
	}
	if *kubeconfig == "" {
		return fatalf("scheduler: --kubeconfig is required")
	}
	kc, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return fatalf("scheduler: %v", err)
	}

	port := 0
	switch *securePort {
	case "0":
	case "auto":
		if port, err = freePort(); err != nil {
			return fatalf("scheduler: %v", err)
		}
	default:
		if port, err = strconv.Atoi(*securePort); err != nil || port < 0 || port > 65535 {
			return fatalf("scheduler: bad --secure-port %q", *securePort)
		}
	}

	// JSON is YAML: quoting with %q keeps paths and names safe.
	config := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: %s
  burst: %d
leaderElection:
  leaderElect: %t
  resourceNamespace: kube-system
  resourceName: %q
`, kc, strconv.FormatFloat(*qps, 'f', -1, 64), *burst, *leaderElect, *name)
	if *pctNodes >= 0 {
		config += fmt.Sprintf("percentageOfNodesToScore: %d\n", *pctNodes)
	}
	config += fmt.Sprintf("profiles:\n- schedulerName: %q\n", *name)

	f, err := os.CreateTemp("", "testcluster-scheduler-*.yaml")
	if err != nil {
		return fatalf("scheduler: %v", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(config); err != nil {
		f.Close()
		return fatalf("scheduler: %v", err)
	}
	if err := f.Close(); err != nil {
		return fatalf("scheduler: %v", err)
	}

	// The same gate as the apiserver's: kube-scheduler then enables its
	// GangScheduling plugin, which kube-wasm-scheduler always runs.
	schedArgs := []string{
		"--config=" + f.Name(),
		fmt.Sprintf("--secure-port=%d", port),
		"--feature-gates=" + genericWorkload,
	}
	if port != 0 {
		schedArgs = append(schedArgs, "--bind-address=127.0.0.1")
		fmt.Fprintf(os.Stderr, "testcluster: kube-scheduler serves https://127.0.0.1:%d (healthz, metrics)\n", port)
	}
	schedArgs = append(schedArgs, extra...)

	if *stopOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			fmt.Fprintln(os.Stderr, "testcluster: stdin closed, shutting down")
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}

	cmd := schedulerapp.NewSchedulerCommand()
	cmd.SetArgs(schedArgs)
	os.Args = append([]string{"kube-scheduler"}, schedArgs...)
	err = cli.RunNoErrOutput(cmd)
	switch {
	case err == nil:
		return 0
	case !*leaderElect && err.Error() == "finished without leader elect":
		// What kube-scheduler returns when its context ends, i.e. after
		// SIGTERM/SIGINT with leader election off: a clean stop.
		fmt.Fprintln(os.Stderr, "testcluster: kube-scheduler stopped")
		return 0
	default:
		fmt.Fprintf(os.Stderr, "testcluster: kube-scheduler: %v\n", err)
		return 1
	}
}

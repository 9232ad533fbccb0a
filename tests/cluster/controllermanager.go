package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/component-base/cli"
	controllermanagerapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// defaultControllers are the controllers scheduling tests need, and no
// others: the PV binder completes what VolumeBinding's PreBind starts (and
// binds Immediate claims), the resource claim controller makes the claims of
// ResourceClaimTemplates and deallocates claims nobody uses any more, and the
// two protection controllers remove the finalizers that the apiserver's
// StorageObjectInUseProtection admission puts on every PVC and PV, without
// which a deleted claim or volume would stay Terminating for ever.
var defaultControllers = []string{
	"persistentvolume-binder-controller",
	"persistentvolumeclaim-protection-controller",
	"persistentvolume-protection-controller",
	"resourceclaim-controller",
}

// runControllerManager runs the upstream kube-controller-manager against a
// kubeconfig with only the controllers given, and prints "READY" once each of
// them is built and registered (listed by /healthz?verbose).
func runControllerManager(args []string) int {
	start := time.Now()
	own, extra := splitPassthrough(args)
	fs := flag.NewFlagSet("controller-manager", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (required); its user creates the controllers' service accounts and tokens")
	controllers := fs.String("controllers", strings.Join(defaultControllers, ","), "comma-separated controllers to run")
	stopOnEOF := fs.Bool("stop-on-stdin-eof", false, "shut down when stdin reaches EOF (the parent went away)")
	timeout := fs.Duration("timeout", 120*time.Second, "give up when the controllers are not up within this time")
	if err := fs.Parse(own); err != nil {
		return 2
	}
	if *kubeconfig == "" {
		return fatalf("controller-manager: --kubeconfig is required")
	}
	kc, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return fatalf("controller-manager: %v", err)
	}
	var names []string
	for _, n := range strings.Split(*controllers, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fatalf("controller-manager: --controllers is empty")
	}
	// The health endpoint is how readiness is seen: a free loopback port,
	// so that several clusters' controller-managers can run side by side.
	port, err := freePort()
	if err != nil {
		return fatalf("controller-manager: %v", err)
	}
	certDir, err := os.MkdirTemp("", "testcluster-kcm-")
	if err != nil {
		return fatalf("controller-manager: %v", err)
	}
	defer os.RemoveAll(certDir)

	cmArgs := []string{
		"--kubeconfig=" + kc,
		"--controllers=" + strings.Join(names, ","),
		// Each controller runs as its own service account in kube-system
		// (created on first use, with tokens from the TokenRequest API), so
		// it has exactly the bootstrap RBAC role it has in a real cluster.
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + certDir,
		// Health checks without credentials; everything else is refused.
		"--authorization-always-allow-paths=/healthz,/readyz,/livez",
		"--authentication-skip-lookup=true",
		"--profiling=false",
		// The same gates as the apiserver's (DynamicResourceAllocation is
		// GA and on by default).
		"--feature-gates=" + genericWorkload,
	}
	cmArgs = append(cmArgs, extra...)

	// kube-controller-manager keeps no state of its own and, with leader
	// election off, installs no signal handler: a signal ends it at once,
	// which is reported as a clean stop.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "testcluster: kube-controller-manager stopped")
		os.Exit(0)
	}()
	if *stopOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			fmt.Fprintln(os.Stderr, "testcluster: stdin closed, shutting down")
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}

	exited := make(chan error, 1)
	cmd := controllermanagerapp.NewControllerManagerCommand()
	cmd.SetArgs(cmArgs)
	os.Args = append([]string{"kube-controller-manager"}, cmArgs...)
	go func() { exited <- cli.RunNoErrOutput(cmd) }()

	if err := waitControllers(port, names, *timeout, exited); err != nil {
		return fatalf("controller-manager: %v", err)
	}
	fmt.Fprintf(os.Stderr, "testcluster: kube-controller-manager running %s after %.1fs (https://127.0.0.1:%d)\n",
		strings.Join(names, ","), time.Since(start).Seconds(), port)
	fmt.Println("READY")
	os.Stdout.Sync()

	if err := <-exited; err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: kube-controller-manager: %v\n", err)
		return 1
	}
	return 0
}

// waitControllers polls /healthz?verbose until it passes and lists each
// controller's check: the check is registered once the controller has been
// constructed, just before the shared informers start.
func waitControllers(port int, names []string, timeout time.Duration, exited chan error) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		// The controller-manager's serving certificate is self-signed.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz?verbose", port)
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			missing := missingChecks(string(body), names)
			if resp.StatusCode == http.StatusOK && len(missing) == 0 {
				return nil
			}
			last = fmt.Sprintf("HTTP %d, not yet up: %s", resp.StatusCode, strings.Join(missing, ","))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controllers not up after %s (last: %s)", timeout, last)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("kube-controller-manager exited before its controllers were up: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// missingChecks returns the names that a verbose healthz body does not list
// as "[+]NAME ok".
func missingChecks(body string, names []string) []string {
	var missing []string
	for _, n := range names {
		if !strings.Contains(body, "[+]"+n+" ok") {
			missing = append(missing, n)
		}
	}
	return missing
}

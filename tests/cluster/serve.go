package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/logutil"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/component-base/cli"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
)

// state is kept in a --data directory so that a restart comes back on the
// same ports: a scheduler that was started with the old kubeconfig reconnects
// to the restarted apiserver by itself.
type state struct {
	APIServerPort  int `json:"apiserverPort"`
	EtcdClientPort int `json:"etcdClientPort"`
	EtcdPeerPort   int `json:"etcdPeerPort"`
}

type tokenUser struct {
	token, name, uid string
	groups           []string
}

func runServe(args []string) int {
	start := time.Now()
	own, extra := splitPassthrough(args)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "where to write the admin kubeconfig (required)")
	dataDir := fs.String("data", "", "keep etcd data, keys and ports here (reused on the next start); default: a temp dir removed on exit")
	port := fs.Int("port", 0, "apiserver secure port (default: the port stored in --data, else a free one)")
	authz := fs.String("authorization", "RBAC", "RBAC (with the Node authorizer) or AlwaysAllow")
	usersFile := fs.String("users", "", "extra token users, lines TOKEN,NAME,UID[,GROUP...] ('#' comments)")
	stopOnEOF := fs.Bool("stop-on-stdin-eof", false, "shut down when stdin reaches EOF (the parent went away)")
	timeout := fs.Duration("timeout", 120*time.Second, "give up when the apiserver is not ready within this time")
	if err := fs.Parse(own); err != nil {
		return 2
	}
	if *kubeconfig == "" {
		return fatalf("serve: --kubeconfig is required")
	}
	kcPath, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return fatalf("serve: %v", err)
	}
	var authzMode string
	switch strings.ToLower(*authz) {
	case "rbac":
		authzMode = "Node,RBAC"
	case "alwaysallow":
		authzMode = "AlwaysAllow"
	default:
		return fatalf("serve: --authorization must be RBAC or AlwaysAllow, not %q", *authz)
	}
	var users []tokenUser
	if *usersFile != "" {
		if users, err = readUsers(*usersFile); err != nil {
			return fatalf("serve: --users: %v", err)
		}
	}

	// NewAPIServerCommand installs the process's SIGTERM/SIGINT handler (the
	// first signal cancels the apiserver's context, a second one exits at
	// once). Build it first so that a signal at any later point stops the
	// apiserver rather than killing the process with etcd open.
	apiCmd := apiserverapp.NewAPIServerCommand()

	keep := *dataDir != ""
	root := *dataDir
	if keep {
		if root, err = filepath.Abs(root); err != nil {
			return fatalf("serve: %v", err)
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fatalf("serve: %v", err)
		}
	} else {
		if root, err = os.MkdirTemp("", "testcluster-"); err != nil {
			return fatalf("serve: %v", err)
		}
	}
	cleanup := func() {
		if !keep {
			os.RemoveAll(root)
		}
	}

	st, err := choosePorts(root, keep, *port)
	if err != nil {
		cleanup()
		return fatalf("serve: %v", err)
	}

	pki := newPKIFiles(filepath.Join(root, "pki"))
	if err := pki.ensure(); err != nil {
		cleanup()
		return fatalf("serve: %v", err)
	}
	adminToken, err := pki.readAdminToken()
	if err != nil {
		cleanup()
		return fatalf("serve: %v", err)
	}
	tokenFile := filepath.Join(root, "tokens.csv")
	if err := writeTokenFile(tokenFile, adminToken, users); err != nil {
		cleanup()
		return fatalf("serve: token file: %v", err)
	}

	etcdLevel := zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	etcd, err := startEtcd(filepath.Join(root, "etcd"), st, etcdLevel)
	if err != nil {
		cleanup()
		return fatalf("serve: etcd: %v", err)
	}
	var closeOnce sync.Once
	closeEtcd := func() {
		closeOnce.Do(func() {
			// Close makes etcd's serving goroutines log "server closed"
			// errors with stack traces; they are expected, so hide them.
			etcdLevel.SetLevel(zapcore.FatalLevel)
			etcd.Close()
		})
	}

	apiArgs := []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", st.EtcdClientPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", st.APIServerPort),
		"--cert-dir=" + pki.dir,
		"--tls-cert-file=" + pki.serverCert,
		"--tls-private-key-file=" + pki.serverKey,
		"--client-ca-file=" + pki.caCert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saPub,
		"--service-account-signing-key-file=" + pki.saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=" + authzMode,
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		// No controller-manager runs: TaintNodesByCondition would leave a
		// not-ready taint on every Node, and ServiceAccount would reject pods
		// until someone creates the "default" ServiceAccount.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		// Gang scheduling (KEP-4671): PodGroups and Workloads are served
		// only when asked for, in beta and off by default in v1.37.
		"--runtime-config=scheduling.k8s.io/v1beta1=true",
		"--feature-gates=" + genericWorkload,
	}
	apiArgs = append(apiArgs, extra...)
	apiCmd.SetArgs(apiArgs)
	os.Args = append([]string{"kube-apiserver"}, apiArgs...)

	exited := make(chan int, 1)
	go func() { exited <- cli.Run(apiCmd) }()

	// Anything that should stop the cluster goes through the apiserver's
	// own signal handler, so there is exactly one shutdown path.
	stop := func() { _ = syscall.Kill(os.Getpid(), syscall.SIGTERM) }
	go func() {
		select {
		case err := <-etcd.Err():
			if err != nil {
				fmt.Fprintf(os.Stderr, "testcluster: etcd failed: %v\n", err)
				stop()
			}
		case <-etcd.Server.StopNotify():
		}
	}()
	if *stopOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			fmt.Fprintln(os.Stderr, "testcluster: stdin closed, shutting down")
			stop()
		}()
	}

	caPEM, err := os.ReadFile(pki.caCert)
	if err != nil {
		stop()
		return finish(<-exited, closeEtcd, cleanup, fatalf("serve: %v", err))
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", st.APIServerPort)
	readyErr := waitReady(server, caPEM, adminToken, *timeout, exited)
	if errors.Is(readyErr, errExited) {
		return finish(<-exited, closeEtcd, cleanup, fatalf("serve: kube-apiserver exited before it was ready"))
	}
	if readyErr != nil {
		stop()
		return finish(<-exited, closeEtcd, cleanup, fatalf("serve: %v", readyErr))
	}
	if err := writeKubeconfig(kcPath, server, caPEM, "admin", adminToken); err != nil {
		stop()
		return finish(<-exited, closeEtcd, cleanup, fatalf("serve: kubeconfig: %v", err))
	}
	fmt.Fprintf(os.Stderr, "testcluster: apiserver %s ready after %.1fs (etcd http://127.0.0.1:%d, data %s)\n",
		server, time.Since(start).Seconds(), st.EtcdClientPort, root)
	fmt.Printf("READY %s\n", kcPath)
	os.Stdout.Sync()

	code := <-exited
	fmt.Fprintln(os.Stderr, "testcluster: kube-apiserver stopped, closing etcd")
	return finish(code, closeEtcd, cleanup, 0)
}

// finish runs the shutdown sequence after the apiserver has returned: etcd is
// closed exactly once, then the temporary data is removed.
func finish(apiCode int, closeEtcd, cleanup func(), code int) int {
	closeEtcd()
	cleanup()
	if code != 0 {
		return code
	}
	return apiCode
}

var errExited = errors.New("kube-apiserver exited")

// genericWorkload turns on KEP-4671's Workload and PodGroup API and
// kube-scheduler's gang scheduling, for both the apiserver and the
// kube-scheduler the cluster runs.
const genericWorkload = "GenericWorkload=true"

func waitReady(server string, caPEM []byte, token string, timeout time.Duration, exited chan int) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("bad CA certificate")
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("apiserver not ready after %s (last: %s)", timeout, last)
		}
		select {
		case code := <-exited:
			exited <- code // keep it for the caller
			return errExited
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func startEtcd(dir string, st state, level zap.AtomicLevel) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "testcluster"
	cfg.Dir = dir
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.EtcdClientPort)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.EtcdPeerPort)}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	zc := logutil.DefaultZapLoggerConfig
	zc.Level = level
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	lg, err := zc.Build()
	if err != nil {
		return nil, err
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	cfg.UnsafeNoFsync = true // test data only
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("etcd not ready after 60s")
	}
}

// choosePorts picks the three loopback ports. With a kept data directory the
// ports of the previous run are reused (waiting a little for the old process
// to release them), so clients holding the old kubeconfig keep working.
func choosePorts(root string, keep bool, apiPort int) (state, error) {
	var st state
	stateFile := filepath.Join(root, "state.json")
	if keep {
		if b, err := os.ReadFile(stateFile); err == nil {
			if err := json.Unmarshal(b, &st); err != nil {
				return st, fmt.Errorf("%s: %v", stateFile, err)
			}
		}
	}
	if apiPort != 0 {
		st.APIServerPort = apiPort
	}
	for _, p := range []*int{&st.APIServerPort, &st.EtcdClientPort, &st.EtcdPeerPort} {
		if *p != 0 {
			if waitPortFree(*p, 15*time.Second) {
				continue
			}
			if p == &st.APIServerPort {
				return st, fmt.Errorf("apiserver port %d is in use", *p)
			}
			// etcd's ports are internal: another one will do.
		}
		fp, err := freePort()
		if err != nil {
			return st, err
		}
		*p = fp
	}
	if keep {
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := writeFileAtomic(stateFile, append(b, '\n'), 0o644); err != nil {
			return st, err
		}
	}
	return st, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitPortFree(port int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readUsers(path string) ([]tokenUser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	var users []tokenUser
	for i, rec := range recs {
		if len(rec) < 3 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("record %d: want TOKEN,NAME,UID[,GROUP...]", i+1)
		}
		u := tokenUser{token: rec[0], name: rec[1], uid: rec[2]}
		// Groups may be one quoted field ("a,b") or the remaining fields.
		for _, g := range rec[3:] {
			for _, g := range strings.Split(g, ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.groups = append(u.groups, g)
				}
			}
		}
		users = append(users, u)
	}
	return users, nil
}

func writeTokenFile(path, adminToken string, users []tokenUser) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{adminToken, "admin", "admin-uid", "system:masters"})
	for _, u := range users {
		rec := []string{u.token, u.name, u.uid}
		if len(u.groups) > 0 {
			rec = append(rec, strings.Join(u.groups, ","))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes(), 0o600)
}

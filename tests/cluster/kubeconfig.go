package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig that authenticates with a bearer token
// and verifies the server with the given CA certificate (PEM).
func writeKubeconfig(path, server string, caPEM []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testcluster"] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["testcluster"] = &clientcmdapi.Context{
		Cluster:   "testcluster",
		AuthInfo:  user,
		Namespace: "default",
	}
	cfg.CurrentContext = "testcluster"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// runKubeconfig derives a kubeconfig for another token user (for instance one
// listed in serve's --users file) from the admin kubeconfig that serve wrote.
func runKubeconfig(args []string) int {
	fs := flag.NewFlagSet("kubeconfig", flag.ContinueOnError)
	admin := fs.String("kubeconfig", "", "kubeconfig written by serve (source of server URL and CA)")
	token := fs.String("token", "", "bearer token of the user")
	user := fs.String("user", "user", "name of the user entry in the new kubeconfig")
	out := fs.String("out", "", "where to write the new kubeconfig")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *admin == "" || *token == "" || *out == "" {
		return fatalf("kubeconfig: --kubeconfig, --token and --out are required")
	}
	cfg, err := clientcmd.LoadFromFile(*admin)
	if err != nil {
		return fatalf("kubeconfig: %v", err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return fatalf("kubeconfig: %s has no current context", *admin)
	}
	cluster, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		return fatalf("kubeconfig: %s has no cluster %q", *admin, ctx.Cluster)
	}
	if err := writeKubeconfig(*out, cluster.Server, cluster.CertificateAuthorityData, *user, *token); err != nil {
		return fatalf("kubeconfig: %v", err)
	}
	fmt.Fprintln(os.Stderr, "testcluster: wrote", *out)
	return 0
}

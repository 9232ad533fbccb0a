package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pkiFiles are the key material the apiserver needs, kept in one directory so
// that a restart over the same --data directory finds the same CA, serving
// certificate, service-account keys and admin token again.
type pkiFiles struct {
	dir        string
	caCert     string
	caKey      string
	serverCert string
	serverKey  string
	saPub      string
	saKey      string
	adminToken string // file holding the admin token
}

func newPKIFiles(dir string) pkiFiles {
	j := func(n string) string { return filepath.Join(dir, n) }
	return pkiFiles{
		dir:        dir,
		caCert:     j("ca.crt"),
		caKey:      j("ca.key"),
		serverCert: j("apiserver.crt"),
		serverKey:  j("apiserver.key"),
		saPub:      j("sa.pub"),
		saKey:      j("sa.key"),
		adminToken: j("admin.token"),
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ensure creates whatever material is missing. Existing files are kept, so a
// second run over the same directory is a no-op.
func (p pkiFiles) ensure() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	if !exists(p.caCert) || !exists(p.caKey) || !exists(p.serverCert) || !exists(p.serverKey) {
		if err := p.writeCerts(); err != nil {
			return fmt.Errorf("certificates: %w", err)
		}
	}
	if !exists(p.saPub) || !exists(p.saKey) {
		if err := p.writeServiceAccountKeys(); err != nil {
			return fmt.Errorf("service-account keys: %w", err)
		}
	}
	if !exists(p.adminToken) {
		tok, err := randomToken()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(p.adminToken, []byte(tok+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (p pkiFiles) readAdminToken() (string, error) {
	b, err := os.ReadFile(p.adminToken)
	if err != nil {
		return "", err
	}
	tok := string(trimSpace(b))
	if tok == "" {
		return "", errors.New("empty admin token file " + p.adminToken)
	}
	return tok, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

func (p pkiFiles) writeCerts() error {
	now := time.Now().Add(-time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caSerial, err := serial()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          caSerial,
		Subject:               pkix.Name{CommonName: "testcluster-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvSerial, err := serial()
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: srvSerial,
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now,
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		},
		// 10.0.0.1 is the first address of --service-cluster-ip-range,
		// the "kubernetes" service's ClusterIP.
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}

	if err := writeECKey(p.caKey, caKey); err != nil {
		return err
	}
	if err := writeFileAtomic(p.caCert, pemBlock("CERTIFICATE", caDER), 0o644); err != nil {
		return err
	}
	if err := writeECKey(p.serverKey, srvKey); err != nil {
		return err
	}
	return writeFileAtomic(p.serverCert, pemBlock("CERTIFICATE", srvDER), 0o644)
}

func (p pkiFiles) writeServiceAccountKeys() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(p.saKey, pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(p.saPub, pemBlock("PUBLIC KEY", pub), 0o644)
}

func writeECKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pemBlock("EC PRIVATE KEY", der), 0o600)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// writeFileAtomic writes via a temporary file and a rename, so a reader that
// polls for the file never sees it half written.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

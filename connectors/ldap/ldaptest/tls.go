package ldaptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a throwaway certificate authority for the test servers' TLS. It is made in Go rather
// than by the servers' own tools: Samba's generated certificate has a negative serial number,
// which Go's x509 rejects, and a CA of our own lets tests give the connector a custom caCert.
type CA struct {
	// CertPEM is the CA certificate, for a connector's caCert.
	CertPEM []byte
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
}

// NewCA makes a CA named name, valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}, nil
}

// Issue returns a server certificate for hosts (IP addresses or DNS names) signed by the CA,
// and its PKCS#8 private key, both PEM.
func (ca *CA) Issue(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

// serial is a random positive 128-bit serial number.
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

// tlsFiles are where a server reads its TLS material.
type tlsFiles struct{ ca, cert, key string }

// writeTLS makes a CA and a certificate for hosts, writes them into dir/tls and returns the CA
// certificate and the file paths. The key is 0600: Samba refuses a key others can read.
func writeTLS(dir string, hosts ...string) ([]byte, tlsFiles, error) {
	files := tlsFiles{ca: filepath.Join(dir, "tls", "ca.pem"), cert: filepath.Join(dir, "tls", "cert.pem"), key: filepath.Join(dir, "tls", "key.pem")}
	ca, err := NewCA("Floh test CA")
	if err != nil {
		return nil, files, err
	}
	certPEM, keyPEM, err := ca.Issue(hosts...)
	if err != nil {
		return nil, files, err
	}
	if err := os.MkdirAll(filepath.Dir(files.ca), 0o700); err != nil {
		return nil, files, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{files.ca, ca.CertPEM, 0o644}, {files.cert, certPEM, 0o644}, {files.key, keyPEM, 0o600}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, files, err
		}
	}
	return ca.CertPEM, files, nil
}

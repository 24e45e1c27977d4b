// Package tlsca is a run's own certificate authority: it signs certificates
// for the endpoint names, so stock SDKs reach https://dynamodb.<region>.
// amazonaws.com on faultline's load balancers and trust them through the CA
// bundle faultline hands them (AWS_CA_BUNDLE, SSL_CERT_FILE, ...). The CA's
// private key never touches the disk: applications need only the
// certificate, and the key lives in this process's memory for the run, so a
// killed run leaves nothing secret behind.
package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// CA is a run's certificate authority.
type CA struct {
	dir     string
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// validity of the CA and what it signs: a run, with room for clock skew.
const validity = 48 * time.Hour

// New makes a CA, its key in memory, and writes its certificate, ca.pem
// (the bundle to trust), in a fresh directory under parent ("" for the
// system's temporary directory), marked as this process's (tempdirs) so
// that `faultline cleanup` removes it if the process is killed. Nothing
// else is written.
func New(parent string) (*CA, error) {
	dir, err := tempdirs.Make(parent, "ca")
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	ca := &CA{dir: dir}
	if err := ca.make(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	return ca, nil
}

func (ca *CA) make() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "faultline run CA", Organization: []string{"faultline"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return err
	}
	ca.key = key
	ca.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return os.WriteFile(ca.CertFile(), ca.certPEM, 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// CertFile is the CA bundle to trust.
func (ca *CA) CertFile() string { return filepath.Join(ca.dir, "ca.pem") }

// Pool is a cert pool holding only the CA, for Go clients.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue signs a server certificate for the names (DNS names; a trailing dot
// is dropped).
func (ca *CA) Issue(names ...string) (tls.Certificate, error) {
	if len(names) == 0 {
		return tls.Certificate{}, errors.New("tls ca: a certificate needs at least one name")
	}
	if ca.key == nil {
		return tls.Certificate{}, errors.New("tls ca: closed")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	var dnsNames []string
	for _, n := range names {
		dnsNames = append(dnsNames, trimDot(n))
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func trimDot(s string) string {
	if len(s) > 1 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// Close forgets the key and deletes the CA's directory (the certificate).
// It is idempotent.
func (ca *CA) Close() error {
	ca.key = nil
	if ca.dir == "" {
		return nil
	}
	err := os.RemoveAll(ca.dir)
	ca.dir = ""
	return err
}

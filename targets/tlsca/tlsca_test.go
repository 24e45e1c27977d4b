package tlsca

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// A server with an issued certificate is trusted by a client that trusts
// the CA's bundle file, for the names issued and no other. The CA's
// directory holds the certificate and nothing else (no private key is ever
// written), and is gone after Close.
func TestIssueAndTrust(t *testing.T) {
	ca, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("dynamodb.us-east-1.amazonaws.com.", "dynamodb.us-west-2.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.WriteString(c, "ok"); c.Close() }()
		}
	}()
	bundle, err := os.ReadFile(ca.CertFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool() // the bundle file alone, as an SDK reads it
	if !pool.AppendCertsFromPEM(bundle) {
		t.Fatal("the bundle holds no certificate")
	}
	dial := func(name string) error {
		c, err := tls.DialWithDialer(&net.Dialer{}, "tcp", ln.Addr().String(), &tls.Config{ServerName: name, RootCAs: pool})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, name := range []string{"dynamodb.us-east-1.amazonaws.com", "dynamodb.us-west-2.amazonaws.com"} {
		if err := dial(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := dial("dynamodb.eu-west-1.amazonaws.com"); err == nil {
		t.Error("a name that was not issued is trusted")
	}
	dir := filepath.Dir(ca.CertFile())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name() != "ca.pem" || entries[1].Name() != tempdirs.Marker {
		t.Errorf("the CA's directory holds %v; want ca.pem and its owner's marker alone", entries)
	}
	if bytes.Contains(bundle, []byte("PRIVATE KEY")) {
		t.Error("the bundle holds a private key")
	}
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the CA's directory survives Close: %v", err)
	}
	if _, err := ca.Issue("x"); err == nil {
		t.Error("a closed CA still issues")
	}
}

// Package deploy holds the manifests that run faultline's CoreDNS in a
// Kubernetes cluster; its tests check them against Kubernetes's own types,
// CoreDNS's parser and Docker.
package deploy_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// documents splits a manifest file into its YAML documents.
func documents(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(d, "")) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

// decode decodes one document strictly (an unknown or duplicate field is
// an error) into the Kubernetes type its kind names.
func decode(t *testing.T, doc []byte) any {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		t.Fatal(err)
	}
	var obj any
	switch head.APIVersion + " " + head.Kind {
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	default:
		t.Fatalf("unexpected %s %s", head.APIVersion, head.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s: %v", head.Kind, err)
	}
	return obj
}

// corefileBody is a Corefile without its comment lines.
func corefileBody(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return strings.TrimLeft(strings.Join(lines, "\n"), "\n")
}

func TestManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	var configMaps []*corev1.ConfigMap
	var deployment *appsv1.Deployment
	var service *corev1.Service
	for _, f := range []string{"faultline-coredns.yaml", "cluster-dns.yaml", "cluster-dns-patch.yaml"} {
		for _, doc := range documents(t, f) {
			switch o := decode(t, doc).(type) {
			case *corev1.ConfigMap:
				configMaps = append(configMaps, o)
				kinds["ConfigMap"]++
			case *appsv1.Deployment:
				if o.Name == "faultline-coredns" {
					deployment = o
				}
				kinds["Deployment"]++
			case *corev1.Service:
				service = o
				kinds["Service"]++
			}
		}
	}
	if kinds["ConfigMap"] != 2 || kinds["Deployment"] != 2 || kinds["Service"] != 1 || deployment == nil || service == nil {
		t.Fatalf("manifests: %v; want 2 ConfigMaps, 2 Deployments (one a patch), 1 Service", kinds)
	}
	// Each ConfigMap holds its Corefile file's text, so that one is tested.
	want := map[string]string{"faultline-coredns": corefileBody(t, "Corefile.amazonaws"), "coredns": corefileBody(t, "Corefile.cluster-dns")}
	for _, cm := range configMaps {
		if got := cm.Data["Corefile"]; got != want[cm.Name] {
			t.Errorf("ConfigMap %s's Corefile differs from its file:\n%s\nwant\n%s", cm.Name, got, want[cm.Name])
		}
	}
	// The Deployment mounts what the Corefile names, and the Service selects it.
	c := deployment.Spec.Template.Spec.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["corefile"] != "/etc/coredns" || mounts["token"] != "/etc/faultline" || !strings.Contains(want["faultline-coredns"], "token_file /etc/faultline/token") {
		t.Errorf("mounts %v: want the Corefile in /etc/coredns and the token in /etc/faultline", mounts)
	}
	for k, v := range service.Spec.Selector {
		if deployment.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the Deployment's pods do not carry", k, v)
		}
	}
	if !strings.Contains(corefileBody(t, "Corefile.amazonaws"), "amazonaws.com:53") ||
		!strings.Contains(string(mustRead(t, "Corefile.amazonaws")), "forward . "+service.Spec.ClusterIP) {
		t.Errorf("Corefile.amazonaws's stanza for the cluster DNS must forward to the Service's ClusterIP %s", service.Spec.ClusterIP)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func corednsBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FAULTLINE_COREDNS_PLUGIN")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "faultline", "coredns-faultline-v1.15.0", "coredns")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no CoreDNS with the faultline plugin at %s (build it with `make coredns`; FAULTLINE_COREDNS_PLUGIN names another): %v", p, err)
	}
	return p
}

// freePort is a port free on loopback for TCP and UDP just now.
func freePort(t *testing.T) string { return freePorts(t, 1)[0] }

// freePorts are n distinct ports free on loopback (each tried for TCP and
// UDP; held until all are found, so none is handed out twice).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var out []string
	for tries := 0; len(out) < n && tries < 100; tries++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			held = append(held, pc)
			out = append(out, fmt.Sprint(port))
		}
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

// The ConfigMaps' Corefiles start in the built CoreDNS: every plugin's
// block parses and sets up. For a machine outside a cluster the test moves
// the ports to free ones on loopback and points the kubernetes plugin at
// a closed port (it starts unsynced, as CoreDNS does when the API is slow).
func TestCorefilesStartInCoreDNS(t *testing.T) {
	bin := corednsBinary(t)
	for _, name := range []string{"Corefile.amazonaws", "Corefile.cluster-dns"} {
		t.Run(name, func(t *testing.T) {
			text := corefileBody(t, name)
			ports := freePorts(t, 5)
			// kubeadm's health and ready take their default ports.
			text = strings.Replace(text, "    health {", "    health :8080 {", 1)
			text = strings.Replace(text, "    ready\n", "    ready :8181\n", 1)
			text = strings.Replace(text, ":53 {", ":"+ports[0]+" {\n    bind 127.0.0.1", 1)
			for i, port := range []string{":8080", ":8181", ":9153"} {
				text = strings.Replace(text, port, "127.0.0.1:"+ports[i+1], 1)
			}
			text = strings.Replace(text, "kubernetes cluster.local in-addr.arpa ip6.arpa {", "kubernetes cluster.local in-addr.arpa ip6.arpa {\n        endpoint http://127.0.0.1:"+ports[4], 1)
			startsIn(t, bin, text)
		})
	}
}

// startsIn runs CoreDNS on a Corefile's text until it serves (it prints
// its version then), failing the test if it exits or reports an error.
func startsIn(t *testing.T, bin, text string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Corefile")
	os.WriteFile(path, []byte(text), 0o644)
	cmd := exec.Command(bin, "-conf", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // gone with the test, even one that panics
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), "CoreDNS-1.15.0") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("CoreDNS exited: %v\n%s\n%s", err, text, out.String())
		case <-deadline:
			t.Fatalf("CoreDNS did not start serving within 60s:\n%s\n%s", text, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if strings.Contains(out.String(), "Error during parsing") {
		t.Errorf("%s:\n%s", text, out.String())
	}
}

// lockedBuffer is written by the process's output copier and read by the
// test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

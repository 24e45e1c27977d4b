package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The image: the Dockerfile builds FROM scratch around the static binary,
// and the container answers, a Corefile's fault applied in it.
func TestDockerImage(t *testing.T) {
	bin := corednsBinary(t)
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("no Docker daemon (start dockerd): %v", err)
	}
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("no dig (apt-get install bind9-dnsutils)")
	}
	if out, _ := exec.Command("file", bin).Output(); bytes.Contains(out, []byte("dynamically linked")) {
		t.Skipf("%s is dynamically linked: `make coredns` builds the static binary the image needs", bin)
	}
	ctx := t.TempDir()
	for src, dst := range map[string]string{bin: "coredns", "Dockerfile": "Dockerfile"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, dst), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The Corefile: a static fault beside a name the hosts plugin answers.
	conf := t.TempDir()
	os.WriteFile(filepath.Join(conf, "Corefile"), []byte(`.:53 {
    faultline {
        fault dns.nxdomain blocked.example.com
    }
    hosts {
        192.0.2.10 ok.example.com
        192.0.2.11 blocked.example.com
    }
}
`), 0o644)
	image := "faultline-coredns-test:" + strings.ToLower(filepath.Base(ctx))
	if out, err := exec.Command("docker", "build", "-q", "-t", image, "--label", "dev.faultline=true", ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })
	port := freePort(t)
	name := "faultline-coredns-test-" + port
	out, err := exec.Command("docker", "run", "-d", "--rm", "--name", name, "--label", "dev.faultline=true",
		"-p", "127.0.0.1:"+port+":53/udp", "-v", conf+":/etc/coredns:ro", image).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("the container's log:\n%s", logs)
		}
		exec.Command("docker", "rm", "-f", name).Run()
	})
	dig := func(name string) string {
		out, _ := exec.Command("dig", "@127.0.0.1", "-p", port, name, "A", "+tries=1", "+time=3").CombinedOutput()
		return string(out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := dig("ok.example.com")
		if strings.Contains(got, "status: NOERROR") && strings.Contains(got, "192.0.2.10") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container does not answer ok.example.com:\n%s", got)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := dig("blocked.example.com"); !strings.Contains(got, "status: NXDOMAIN") {
		t.Errorf("blocked.example.com under dns.nxdomain in the container:\n%s", got)
	}
}

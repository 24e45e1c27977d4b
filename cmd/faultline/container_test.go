package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/dynamodb/container/containertest"
)

// SIGINT in the middle of a run on the container backend, with a client
// application in a container: exit 3, and nothing of the run is left in
// Docker (no container, no network). The stand-in images are removed when
// the test ends.
func TestContainerSIGINTLeavesNothingBehind(t *testing.T) {
	containertest.RequireDocker(t)
	if os.Geteuid() != 0 {
		t.Skip("the application's DNS relay binds port 53: run as root")
	}
	dynamo := containertest.StandIn(t)
	app := containertest.App(t, "app", "github.com/faultline-dev/faultline/cmd/faultline-app")
	exp := writeFile(t, "short-app.yaml", strings.Replace(shortFlagship, "\nschedule:", "\n  - name: app\n    image: placeholder/app:0\nschedule:", 1))
	runID := fmt.Sprintf("sigint-%d", time.Now().UnixNano())
	cmd := exec.Command(binary, "run", exp, "--out", t.TempDir(), "--backend", "container", "--run-id", runID,
		"--image", "dynamodb="+dynamo, "--image", "app="+app)
	t.Cleanup(func() { container.Cleanup(context.Background(), runID) }) // whatever a failure left
	var sawContainers int
	err := interruptWhenApplied(t, cmd, func() {
		left, _ := container.List(context.Background(), runID)
		sawContainers = len(left)
	})
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("exit = %v, want code 3", err)
	}
	if sawContainers != 3 {
		t.Errorf("while the fault was on, the run had %d containers; want 3 (two DynamoDB, one app)", sawContainers)
	}
	if left, err := container.List(context.Background(), runID); err != nil || len(left) != 0 {
		t.Errorf("left in Docker after SIGINT: %v, %v", left, err)
		container.Cleanup(context.Background(), runID)
	}
}

// Without a Docker daemon the container backend fails at once, exit 3, and
// says what to do. testcontainers-go looks for a daemon in many places
// (DOCKER_HOST, then the usual sockets), so the test hides them all: a mount
// namespace with empty /run and /var/run, and a HOME of its own.
func TestContainerBackendWithoutDocker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("hiding the Docker socket takes a mount namespace: run as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1)")
	}
	script := `mount -t tmpfs none /run && { [ -L /var/run ] || mount -t tmpfs none /var/run; } && exec "$@"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		binary, "run", "dynamodb-empty-dns", "--backend", "container", "--out", t.TempDir())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_HOST=unix:///nonexistent/docker.sock"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit = %v, want code 3:\n%s", err, out)
	}
	for _, want := range []string{"no Docker daemon answers", "start Docker", "--backend embedded"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
}

func TestContainerFlagsAreChecked(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "dynamodb-empty-dns", "--backend", "vm"}, `--backend "vm": expected embedded or container`},
		{[]string{"run", "dynamodb-empty-dns", "--image", "dynamodb"}, "expected NAME=REF"},
		{[]string{"run", "dynamodb-empty-dns", "--image", "naive=x:1"}, "expected dynamodb or the name of a client with an image"},
		{[]string{"cleanup", "extra"}, "cleanup takes no arguments"},
	}
	for _, c := range cases {
		code, out := faultline(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("faultline %v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, out)
		}
	}
}

// Package containertest builds the images faultline's container tests and
// benchmarks run, since no image can be pulled on machines without a
// registry: images FROM scratch holding static Go binaries of this module.
// Every image it builds is labelled dev.faultline=true and removed by the
// caller's cleanup.
package containertest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/faultline-dev/faultline/targets/dynamodb/container"
	"github.com/faultline-dev/faultline/targets/tempdirs"
)

// StandInPackage is the stand-in for the amazon/dynamodb-local image.
const StandInPackage = "github.com/faultline-dev/faultline/cmd/faultline-dynamodb-standin"

// RequireDocker skips the test, saying why, when no Docker daemon answers.
// Tests that need containers call it first; CI starts a daemon, so there
// they run.
func RequireDocker(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("container tests: not on Linux (%s): host networking and loopback publishing need Linux", runtime.GOOS)
	}
	if err := container.CheckDocker(context.Background()); err != nil {
		t.Skipf("container tests skipped: %v", err)
	}
}

// StandIn builds the stand-in DynamoDB Local image and removes it when the
// test ends. Its binary is /usr/bin/java, so the entrypoint
// testcontainers-go's dynamodb module sets for the Amazon image starts it.
func StandIn(t testing.TB) string {
	t.Helper()
	return forTest(t)(BuildStandIn(context.Background()))
}

// BuildStandIn builds the stand-in image (for benchmarks, which have no t).
func BuildStandIn(ctx context.Context) (ref string, remove func() error, err error) {
	return Build(ctx, "faultline-test/dynamodb-standin", map[string]string{"/usr/bin/java": StandInPackage}, nil, nil)
}

// App builds an image whose entrypoint is the static binary of pkg (a main
// package of this module) and removes it when the test ends.
func App(t testing.TB, name, pkg string) string {
	t.Helper()
	return forTest(t)(Build(context.Background(), "faultline-test/"+name, map[string]string{"/app": pkg}, []string{"/app"}, nil))
}

// forTest fails t on a build error and removes the image when t ends.
func forTest(t testing.TB) func(ref string, remove func() error, err error) string {
	return func(ref string, remove func() error, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := remove(); err != nil {
				t.Errorf("removing %s: %v", ref, err)
			}
		})
		return ref
	}
}

// Build builds repo:<unique tag> FROM scratch with the static binaries of the
// packages in files (path in the image → package), the entrypoint given (or
// none) and the labels, and returns its reference and how to remove it.
func Build(ctx context.Context, repo string, files map[string]string, entrypoint []string, labels map[string]string) (string, func() error, error) {
	dir, err := tempdirs.Make("", "image")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := "FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\n"
	i := 0
	for dst, pkg := range files {
		bin := filepath.Join(dir, fmt.Sprintf("bin%d", i))
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("building %s: %v\n%s", pkg, err, out)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return "", nil, err
		}
		name := filepath.Base(bin)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
			return "", nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return "", nil, err
		}
		dockerfile += fmt.Sprintf("COPY %s %s\n", name, dst)
		i++
	}
	if len(entrypoint) > 0 {
		ep, _ := json.Marshal(entrypoint)
		dockerfile += fmt.Sprintf("ENTRYPOINT %s\n", ep)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: time.Now()}); err != nil {
		return "", nil, err
	}
	tw.Write([]byte(dockerfile))
	if err := tw.Close(); err != nil {
		return "", nil, err
	}

	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return "", nil, container.Diagnose(err, "", "")
	}
	ref := fmt.Sprintf("%s:%d", repo, time.Now().UnixNano())
	all := map[string]string{container.LabelApp: "true"}
	for k, v := range labels {
		all[k] = v
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true, Labels: all})
	if err != nil {
		cli.Close()
		return "", nil, fmt.Errorf("building image %s: %w", ref, err)
	}
	err = readBuildOutput(res.Body)
	res.Body.Close()
	if err != nil {
		cli.Close()
		return "", nil, fmt.Errorf("building image %s: %w", ref, err)
	}
	remove := func() error {
		defer cli.Close()
		_, err := cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		return err
	}
	return ref, remove, nil
}

// readBuildOutput reads the build's JSON message stream to its end and
// returns the error it reports, if any.
func readBuildOutput(body interface{ Read([]byte) (int, error) }) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last string
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			if m.Error != "" {
				return errors.New(strings.TrimSpace(m.Error))
			}
			if s := strings.TrimSpace(m.Stream); s != "" {
				last = s
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w (last step: %s)", err, last)
	}
	return nil
}

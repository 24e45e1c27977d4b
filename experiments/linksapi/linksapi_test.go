package linksapi

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/experiments/engine"
	"github.com/faultline-dev/faultline/experiments/journal"
	"github.com/faultline-dev/faultline/experiments/livetest"
	"github.com/faultline-dev/faultline/faults"
)

// toxiproxyCLI builds toxiproxy's own CLI from its module, at the version
// faultline embeds, into a temporary directory.
func toxiproxyCLI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/Shopify/toxiproxy/v2/cmd/cli@v2.12.0")
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("toxiproxy-cli v2.12.0 could not be built (offline without it in the module cache?): %v\n%s", err, out)
	}
	return filepath.Join(dir, "cli")
}

// linkToxics waits for n link.toxic events on sub.
func linkToxics(t *testing.T, sub *engine.Subscription, n int) []journal.Event {
	t.Helper()
	var got []journal.Event
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case d, ok := <-sub.C():
			if !ok {
				t.Fatalf("the subscription ended: %v", sub.Err())
			}
			if d.Event.Type == journal.LinkToxic {
				got = append(got, d.Event)
			}
		case <-timeout:
			t.Fatalf("%d link.toxic events after 5 s; want %d: %+v", len(got), n, got)
		}
	}
	return got
}

// Toxiproxy's own CLI, unchanged, drives a live world's link: it lists the
// links, adds a latency toxic that slows a request through the region's
// load balancer, and removes it; both changes are journaled by
// toxiproxy-api. A fault's toxic on the same link is listed, cannot be
// removed through the CLI, and heals through the Engine.
func TestToxiproxyCLIDrivesTheLinks(t *testing.T) {
	cli := toxiproxyCLI(t)
	e := livetest.Open(t)
	api, err := Serve(e, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	sub, err := e.Subscribe(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-h", api.URL()}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Run() // toxiproxy-cli exits 0 on some failures: callers read what it says
		return out.String()
	}

	lb, _ := e.World().NLB("us-east-1")
	link := lb.DataLink(lb.Targets()[0].Addr).Name()
	if out := run("list"); !strings.Contains(out, link) || !strings.Contains(out, "us-west-2/hc/0/") {
		t.Fatalf("toxiproxy-cli list:\n%s\nwant the links, %s among them", out, link)
	}
	before := livetest.Post(t, e, "us-east-1")

	if out := run("toxic", "add", "-t", "latency", "-a", "latency=400", link); !strings.Contains(out, "Added downstream latency toxic 'latency_downstream'") {
		t.Fatalf("toxic add: %s", out)
	}
	if d := livetest.Post(t, e, "us-east-1"); d < 400*time.Millisecond {
		t.Errorf("a request through %s took %s with a 400 ms latency toxic (%s before)", link, d, before)
	}
	if d := livetest.Post(t, e, "us-west-2"); d >= 400*time.Millisecond { // the toxic's delay, not the machine's noise
		t.Errorf("a request to us-west-2 took %s: the toxic reached another link", d)
	}
	if out := run("toxic", "remove", "-n", "latency_downstream", link); !strings.Contains(out, "Removed toxic 'latency_downstream'") {
		t.Fatalf("toxic remove: %s", out)
	}
	if d := livetest.Post(t, e, "us-east-1"); d >= 400*time.Millisecond {
		t.Errorf("a request took %s after the toxic was removed", d)
	}
	evs := linkToxics(t, sub, 2)
	for i, want := range []string{"added", "removed"} {
		ev := evs[i]
		if ev.Status != want || ev.By != By || ev.Target != link || ev.Region != "us-east-1" || ev.Name != "latency_downstream" ||
			ev.Kind != "latency" || !strings.Contains(ev.Detail, `"latency":400`) || !strings.HasPrefix(ev.Addr, "127.0.0.1:") {
			t.Errorf("link.toxic %d = %+v; want latency_downstream %s by %s", i, ev, want, By)
		}
	}

	// A fault's toxic: listed, not removable through the CLI, healed by
	// the Engine.
	a, err := e.Apply(faults.Fault{Kind: "link.latency", Target: "us-east-1", Params: map[string]string{"latency": "1ms"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	own := "faultline." + a.Fault.ID
	if out := run("inspect", link); !strings.Contains(out, own) {
		t.Errorf("inspect %s:\n%s\nwant %s", link, out, own)
	}
	if out := run("toxic", "remove", "-n", own, link); !strings.Contains(out, "403") || !strings.Contains(out, "faultline's own") {
		t.Errorf("removing the fault's toxic through the CLI: %s; want a refusal", out)
	}
	if out := run("delete", link); !strings.Contains(out, "403") {
		t.Errorf("deleting a link through the CLI: %s; want a refusal", out)
	}
	if err := e.Heal(a.Fault.ID, "done", "test"); err != nil {
		t.Fatalf("healing the fault after the CLI tried: %v", err)
	}
	if out := run("inspect", link); strings.Contains(out, own) {
		t.Errorf("after the heal, inspect still shows %s:\n%s", own, out)
	}
}

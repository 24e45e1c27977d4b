package topology

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/dynamodb/container/containertest"
	"github.com/faultline-dev/faultline/targets/dynamodb/replica"
)

// The container backend replicates too: us-east-1 runs in a container (the
// stand-in image: amazon/dynamodb-local cannot be pulled here), us-west-2
// embedded; writes made through either region's NLB reach the other, and
// last writer wins holds across them.
func TestContainerRegionReplicates(t *testing.T) {
	containertest.RequireDocker(t)
	image := containertest.StandIn(t)
	ev := &events{}
	cfg := config()
	cfg.RunID = fmt.Sprintf("test-%d", time.Now().UnixNano())
	cfg.Regions[0].Container = &Container{Image: image}
	cfg.Global = &Global{}
	cfg.ReplicaObserver = ev.add
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	east, west := sdk(t, w, "us-east-1"), sdk(t, w, "us-west-2")
	put(t, east, "from-container", 1)
	eventually(t, "the container's write reaching us-west-2", func() bool { return version(t, west, "from-container") == 1 })
	put(t, west, "from-embedded", 2)
	eventually(t, "the embedded write reaching the container", func() bool { return version(t, east, "from-embedded") == 2 })

	// Both regions write one item while replication is paused; the later
	// acknowledgement wins in both.
	resume, err := w.PauseReplication("us-east-1", replica.Both, "f1")
	if err != nil {
		t.Fatal(err)
	}
	put(t, east, "both", 10)
	put(t, west, "both", 20) // later
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replicas agreeing on the later write", func() bool {
		return version(t, east, "both") == 20 && version(t, west, "both") == 20 && w.Replicator().Backlog("us-east-1", "us-west-2") == 0
	})
	var superseded bool
	for _, e := range ev.of(replica.KindReplicated, replica.Superseded) {
		superseded = superseded || (e.Item == "both" && e.To == "us-west-2")
	}
	if !superseded {
		t.Errorf("the container's earlier write of both was not superseded at us-west-2: %+v", ev.of(replica.KindReplicated, ""))
	}
}

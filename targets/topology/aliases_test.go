package topology

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// Alias sets: every node answers on its alias in each set, on its port; a
// set's map rewrites exactly this world's node addresses, and an address
// tells its set.
func TestAliasSets(t *testing.T) {
	cfg := config()
	cfg.AliasSets = 2
	w, err := Build(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	m := w.NodeAliases(1)
	want := map[string]string{"127.0.1.1": "127.65.1.1", "127.0.1.2": "127.65.1.2", "127.0.2.1": "127.65.2.1"}
	if len(m) != len(want) {
		t.Fatalf("NodeAliases(1) = %v; want %v", m, want)
	}
	for node, alias := range want {
		if m[node] != alias {
			t.Errorf("NodeAliases(1)[%s] = %q; want %s", node, m[node], alias)
		}
	}
	lb, _ := w.NLB("us-west-2")
	port := strconv.Itoa(lb.Port())
	for _, alias := range []string{"127.64.2.1", "127.65.2.1"} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(alias, port), time.Second)
		if err != nil {
			t.Errorf("us-west-2's node at its alias %s: %v", alias, err)
			continue
		}
		c.Close()
	}
	for addr, set := range map[string]int{"127.64.1.2": 0, "127.65.2.1:" + port: 1} {
		if got, ok := w.AliasSet(addr); !ok || got != set {
			t.Errorf("AliasSet(%s) = %d, %v; want %d", addr, got, ok, set)
		}
	}
	for _, addr := range []string{"127.66.1.1", "127.64.3.1", "127.64.2.2", "127.0.1.1", "10.64.1.1", "nonsense"} {
		if set, ok := w.AliasSet(addr); ok {
			t.Errorf("AliasSet(%s) = %d; want no set (not an alias of this world)", addr, set)
		}
	}
	if w.NodeAliases(2) != nil {
		t.Error("NodeAliases of a set the world does not have")
	}
	cfg.AliasSets = MaxAliasSets + 1
	if _, err := Build(context.Background(), cfg); err == nil {
		t.Error("built with too many alias sets")
	}
}

package links

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tpclient "github.com/Shopify/toxiproxy/v2/client"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/targets/links/linkstest"
)

// changes collects what the API reports.
type changes struct {
	mu   sync.Mutex
	list []Change
}

func (c *changes) add(ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, ch)
}

func (c *changes) all() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Change(nil), c.list...)
}

// serveAPI starts the API over a hub with two links named as the NLB
// names them (slashes and a port in the name).
func serveAPI(t *testing.T) (*Hub, *Link, *API, *changes) {
	t.Helper()
	h := hub(t)
	data, err := h.Add("us-east-1/data/0/127.0.100.1:8000", linkstest.Echo(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Add("us-east-1/hc/0/127.0.100.1:8000", linkstest.Echo(t)); err != nil {
		t.Fatal(err)
	}
	var seen changes
	a, err := ServeAPI(h, "127.0.0.1:0", seen.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return h, data, a, &seen
}

func slowTrip(t *testing.T, addr string) time.Duration {
	t.Helper()
	began := time.Now()
	if got, err := roundTrip(addr, "x", 5*time.Second); err != nil || got != "x" {
		t.Fatalf("round trip through %s = %q, %v", addr, got, err)
	}
	return time.Since(began)
}

// Toxiproxy's own Go client drives the links: lists them (faultline's own
// toxics shown), adds a latency toxic that slows the link, removes it; each
// change is reported.
func TestAPIDrivenByToxiproxyClient(t *testing.T) {
	_, data, a, seen := serveAPI(t)
	if err := data.AddToxic(Toxic{Name: OwnToxic("f1"), Type: "latency", Attributes: map[string]any{"latency": 1}}); err != nil {
		t.Fatal(err)
	}
	c := tpclient.NewClient(a.Addr())
	proxies, err := c.Proxies()
	if err != nil {
		t.Fatal(err)
	}
	p, ok := proxies[data.Name()]
	if len(proxies) != 2 || !ok || p.Listen != data.Addr() || !p.Enabled || len(p.ActiveToxics) != 1 || p.ActiveToxics[0].Name != "faultline.f1" {
		t.Fatalf("proxies = %+v", proxies)
	}
	p, err = c.Proxy(data.Name())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.AddToxic("", "latency", "", 1, tpclient.Attributes{"latency": 200})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Name != "latency_downstream" {
		t.Errorf("toxic named %q; want toxiproxy's default latency_downstream", tx.Name)
	}
	if d := slowTrip(t, data.Addr()); d < 200*time.Millisecond {
		t.Errorf("a round trip took %s under a 200 ms latency toxic", d)
	}
	if _, err := p.UpdateToxic("latency_downstream", 1, tpclient.Attributes{"latency": 10}); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveToxic("latency_downstream"); err != nil {
		t.Fatal(err)
	}
	if d := slowTrip(t, data.Addr()); d >= 200*time.Millisecond { // the toxic's delay, not the machine's noise
		t.Errorf("a round trip took %s after the toxic was removed", d)
	}
	got := seen.all()
	want := []string{"added", "updated", "removed"}
	if len(got) != len(want) {
		t.Fatalf("changes %+v; want %v", got, want)
	}
	for i, ch := range got {
		if ch.Action != want[i] || ch.Link != data.Name() || ch.Toxic != "latency_downstream" || ch.Type != "latency" ||
			!strings.Contains(ch.Detail, `"latency":`) || !strings.HasPrefix(ch.Remote, "127.0.0.1:") {
			t.Errorf("change %d = %+v; want %s of latency_downstream with its attributes", i, ch, want[i])
		}
	}
	if !strings.Contains(got[1].Detail, `"latency":10`) || !strings.Contains(got[2].Detail, `"latency":10`) {
		t.Errorf("update and removal details: %q, %q; want the updated attributes", got[1].Detail, got[2].Detail)
	}
	if v, err := c.Version(); err != nil || !strings.Contains(string(v), "version") {
		t.Errorf("version: %s, %v", v, err)
	}
}

// faultline's own toxics and links cannot be touched through the API, and
// names beginning with OwnPrefix cannot be taken; reset removes only the
// API's toxics.
func TestAPIKeepsFaultlinesOwn(t *testing.T) {
	h, data, a, seen := serveAPI(t)
	own := Toxic{Name: OwnToxic("f1"), Type: "timeout", Attributes: map[string]any{"timeout": 0}}
	if err := data.AddToxic(own); err != nil {
		t.Fatal(err)
	}
	c := tpclient.NewClient(a.Addr())
	p, err := c.Proxy(data.Name())
	if err != nil {
		t.Fatal(err)
	}
	forbidden := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: %v; want 403", what, err)
		}
	}
	_, err = p.AddToxic("faultline.f2", "latency", "", 1, tpclient.Attributes{"latency": 5})
	forbidden("adding a toxic in faultline's namespace", err)
	_, err = p.UpdateToxic("faultline.f1", 1, tpclient.Attributes{"timeout": 5})
	forbidden("updating a fault's toxic", err)
	forbidden("removing a fault's toxic", p.RemoveToxic("faultline.f1"))
	_, err = p.AddToxic("cut", cutType, "", 1, nil)
	forbidden("adding faultline's cut", err)
	forbidden("deleting a link", p.Delete())
	forbidden("disabling a link", p.Disable())
	_, err = c.CreateProxy("mine", "0.0.0.0:0", "127.0.0.1:1")
	forbidden("creating a proxy", err)
	_, err = c.Populate([]tpclient.Proxy{{Name: "mine", Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1"}})
	forbidden("populating", err)

	if _, err := p.AddToxic("mine", "latency", "upstream", 1, tpclient.Attributes{"latency": 5}); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetState(); err != nil {
		t.Fatal(err)
	}
	toxics, err := p.Toxics()
	if err != nil || len(toxics) != 1 || toxics[0].Name != "faultline.f1" {
		t.Errorf("after reset: %+v, %v; want faultline.f1 alone", toxics, err)
	}
	if names := h.Names(); len(names) != 2 {
		t.Errorf("links after the refusals: %v", names)
	}
	if err := data.RemoveToxic(own.Name); err != nil {
		t.Errorf("the fault's own heal: %v", err)
	}
	got := seen.all()
	if len(got) != 2 || got[0].Action != "added" || got[1].Action != "removed" || got[1].Toxic != "mine" {
		t.Errorf("changes %+v; want mine added, then removed by the reset", got)
	}

	// The error is toxiproxy's shape, and says what to do instead.
	resp, err := http.Post(a.URL()+"/proxies/"+data.Name()+"/toxics", "application/json", strings.NewReader(`{"name":"faultline.x","type":"latency"}`))
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 403 || e.Status != 403 || !strings.Contains(e.Error, "faultline's own") {
		t.Errorf("refusal: %d %+v", resp.StatusCode, e)
	}
}

func TestAPIRefusesBrowsersUnknownLinksAndOtherAddresses(t *testing.T) {
	_, data, a, _ := serveAPI(t)
	req, _ := http.NewRequest("GET", a.URL()+"/proxies", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a browser's request: %d; want 403", resp.StatusCode)
	}
	for _, path := range []string{"/proxies/nope", "/proxies/nope/toxics", "/proxies/" + data.Name() + "x/toxics"} {
		resp, err := http.Get(a.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(body), "proxy not found") {
			t.Errorf("GET %s: %d %s; want toxiproxy's 404", path, resp.StatusCode, body)
		}
	}
	resp, err = http.Post(a.URL()+"/proxies/"+data.Name()+"/toxics", "application/json", strings.NewReader(strings.Repeat("x", maxAPIBody+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a body over the bound: %d; want 400", resp.StatusCode)
	}
	h := hub(t)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8474", "nonsense"} {
		if a, err := ServeAPI(h, addr, nil); err == nil {
			a.Close()
			t.Errorf("ServeAPI(%q) served; want a refusal (loopback only)", addr)
		}
	}
}

func TestAPICloseLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := NewHub()
	defer h.Close()
	a, err := ServeAPI(h, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(a.URL() + "/proxies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

package livetest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Browser is a headless Chromium with one page open, driven through the
// DevTools protocol. The network is cut off except loopback: every host
// name resolves to nothing (the address 127.0.0.1 is left alone: the rule
// would refuse even that) and every non-loopback connection goes to a proxy
// that is not there.
type Browser struct {
	t    testing.TB
	ws   *websocket.Conn
	mu   sync.Mutex
	next int
}

// Chromium opens url in a headless Chromium; cleanup closes it. It skips the
// test when no Chromium is installed.
func Chromium(t testing.TB, url string) *Browser {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no Chromium (apt-get install chromium; .ci/run installs it)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=127.0.0.1:9",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1",
		"--window-size=1300,1800", "--user-data-dir="+t.TempDir(), url)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	listening := make(chan string, 1)
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		for sc.Scan() {
			logMu.Lock()
			if log.Len() < 64<<10 {
				log.WriteString(sc.Text() + "\n")
			}
			logMu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
	}()
	b := &Browser{t: t}
	t.Cleanup(func() {
		if b.ws != nil {
			b.ws.Close()
		}
		cancel()
		<-exited
		if t.Failed() {
			logMu.Lock()
			t.Logf("chromium's log:\n%s", log.String())
			logMu.Unlock()
		}
	})
	var browserWS string
	select {
	case browserWS = <-listening:
	case <-exited:
		t.Fatalf("chromium exited before it listened:\n%s", log.String())
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not start its DevTools server in 30 s")
	}
	// The page's own endpoint, from the DevTools server's list.
	host := strings.TrimPrefix(browserWS, "ws://")
	host = host[:strings.Index(host, "/")]
	deadline := time.Now().Add(20 * time.Second)
	for b.ws == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no page for %s in chromium's DevTools list", url)
		}
		var targets []struct{ Type, URL, WebSocketDebuggerURL string }
		if resp, err := http.Get("http://" + host + "/json/list"); err == nil {
			json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
				ws, err := websocket.Dial(tg.WebSocketDebuggerURL, "", "http://127.0.0.1")
				if err != nil {
					t.Fatalf("DevTools: %v", err)
				}
				b.ws = ws
				break
			}
		}
		if b.ws == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return b
}

// call sends one DevTools command and returns its result, skipping the
// events that arrive meanwhile.
func (b *Browser) call(method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	id := b.next
	if err := websocket.JSON.Send(b.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	b.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var msg struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if err := websocket.JSON.Receive(b.ws, &msg); err != nil {
			return nil, err
		}
		if msg.ID != id {
			continue
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, msg.Error.Message)
		}
		return msg.Result, nil
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// (returned by value: JSON-serialisable) into out.
func (b *Browser) Eval(expr string, out any) error {
	res, err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return err
	}
	var r struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct{ Text string }
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.ExceptionDetails != nil {
		return fmt.Errorf("evaluating %s: %s", expr, r.ExceptionDetails.Text)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Screenshot is the page as a PNG.
func (b *Browser) Screenshot() ([]byte, error) {
	res, err := b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	if err != nil {
		return nil, err
	}
	var r struct{ Data string }
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

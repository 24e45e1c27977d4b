package control

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The files of a live run, in its directory: the state `faultline up`
// writes for the CLI verbs (removed when it goes down) and the token.
const (
	StateFile = "live.json"
	TokenFile = "api-token"
)

// State is how the CLI verbs find a live run.
type State struct {
	PID        int       `json:"pid"`
	API        string    `json:"api"` // http://127.0.0.1:PORT
	TokenFile  string    `json:"token_file"`
	Experiment string    `json:"experiment"`
	RunDir     string    `json:"run_dir"`
	Started    time.Time `json:"started"`
	Sandboxed  bool      `json:"sandboxed"`
}

// WriteState writes dir/live.json at once (a reader never sees half).
func WriteState(dir string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+StateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// ErrNoLiveRun is ReadState's answer when dir holds no live run.
var ErrNoLiveRun = errors.New("no live run")

// ReadState reads dir/live.json.
func ReadState(dir string) (State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("%w in %s (no %s: start one with `faultline up`, or name its directory with --run DIR)", ErrNoLiveRun, dir, StateFile)
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil || s.API == "" {
		return State{}, fmt.Errorf("%s: not a live run's state file (%v)", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// NewToken is 32 random bytes, hex.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// WriteToken writes a token to path, readable by its owner only (0600).
func WriteToken(path, token string) error {
	os.Remove(path) // a new file: its mode is ours, whatever was there
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadToken reads a token file.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// Client calls a control API.
type Client struct {
	Base  string // http://127.0.0.1:PORT
	Token string
	HTTP  *http.Client
}

// NewClient is a client of the live run st describes.
func NewClient(st State) (*Client, error) {
	tok, err := ReadToken(st.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("the live run's token: %w", err)
	}
	return &Client{Base: st.API, Token: tok, HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}

// StatusError is an error answer of the API.
type StatusError struct {
	Status int
	APIError
}

func (e *StatusError) Error() string { return e.APIError.Error() }

// UnreachableError is an API that did not answer.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("the live run's API does not answer (%v): is `faultline up` still running?", e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Do calls method path (under /api/v1) with body (nil: none) as JSON and
// decodes the answer into out (nil: discarded).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+Prefix+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return &UnreachableError{err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &UnreachableError{err}
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			eb.Error = APIError{Code: "http", Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))}
		}
		return &StatusError{Status: resp.StatusCode, APIError: eb.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("the API's answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// SSE is one server-sent event.
type SSE struct {
	ID    string
	Event string // "" for the journal's events
	Data  string
}

// Events reads the event stream (query: after, follow, types, client;
// lastID resumes after that event when not "") and calls fn with each
// event until the stream ends, ctx ends or fn returns false.
func (c *Client) Events(ctx context.Context, query, lastID string, fn func(SSE) bool) error {
	u := c.Base + Prefix + "/events"
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := *c.HTTP
	hc.Timeout = 0 // a stream lasts
	resp, err := hc.Do(req)
	if err != nil {
		return &UnreachableError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			eb.Error = APIError{Code: "http", Message: resp.Status}
		}
		return &StatusError{Status: resp.StatusCode, APIError: eb.Error}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev SSE
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 || ev.Event != "" {
				ev.Data = strings.Join(data, "\n")
				if !fn(ev) {
					return nil
				}
			}
			ev, data = SSE{}, nil
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				data = append(data, value)
			case "retry":
				if _, err := strconv.Atoi(value); err != nil {
					return fmt.Errorf("the event stream: bad retry %q", value)
				}
			}
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return &UnreachableError{err}
	}
	return nil
}

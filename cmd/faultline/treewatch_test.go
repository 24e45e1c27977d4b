package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// treeWatch watches a directory tree with inotify while a run writes into
// it: every file and directory created in it (at any depth, including
// directories created during the run) and, for every regular file, whether
// its content ever held a PEM private key when it was closed after
// writing. A file created and removed between two reads is still seen by
// name.
type treeWatch struct {
	fd   int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	dirs    map[int32]string
	created []string // paths relative to the root, in order
	secrets []string // files whose content held a private key
	root    string
	errs    []error
}

func watchTree(t *testing.T, root string) *treeWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	w := &treeWatch{fd: fd, stop: make(chan struct{}), done: make(chan struct{}), dirs: map[int32]string{}, root: root}
	w.add(root)
	go w.loop()
	t.Cleanup(func() { w.Stop() })
	return w
}

const watchMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR

// add watches dir, then looks at what is already in it: files created
// before the watch was in place are not missed.
func (w *treeWatch) add(dir string) {
	wd, err := unix.InotifyAddWatch(w.fd, dir, watchMask)
	if err != nil {
		if !os.IsNotExist(err) && err != unix.ENOENT {
			w.mu.Lock()
			w.errs = append(w.errs, err)
			w.mu.Unlock()
		}
		return
	}
	w.mu.Lock()
	w.dirs[int32(wd)] = dir
	w.mu.Unlock()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		w.seen(filepath.Join(dir, e.Name()), e.IsDir(), false)
	}
}

func (w *treeWatch) seen(path string, isDir, closedAfterWrite bool) {
	rel, _ := filepath.Rel(w.root, path)
	w.mu.Lock()
	if !closedAfterWrite {
		w.created = append(w.created, rel)
	}
	w.mu.Unlock()
	if isDir {
		if !closedAfterWrite {
			w.add(path)
		}
		return
	}
	if data, ok := readRegular(path); ok && bytes.Contains(data, []byte("PRIVATE KEY")) {
		w.mu.Lock()
		w.secrets = append(w.secrets, rel)
		w.mu.Unlock()
	}
}

// readRegular reads path if it is a regular file. Nothing else is opened: a
// run's directory holds named pipes (FAULTLINE_EVENTS), and opening one
// would block, or take lines meant for faultline.
func readRegular(path string) ([]byte, bool) {
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	data, err := io.ReadAll(f)
	return data, err == nil
}

func (w *treeWatch) loop() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-w.stop:
			w.drain(buf)
			return
		default:
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 20); n > 0 {
			w.drain(buf)
		}
	}
}

func (w *treeWatch) drain(buf []byte) {
	for {
		n, err := unix.Read(w.fd, buf)
		if n <= 0 || err != nil {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			w.mu.Lock()
			dir, ok := w.dirs[ev.Wd]
			w.mu.Unlock()
			if !ok || name == "" {
				continue
			}
			isDir := ev.Mask&unix.IN_ISDIR != 0
			w.seen(filepath.Join(dir, name), isDir, ev.Mask&unix.IN_CLOSE_WRITE != 0)
		}
	}
}

// Stop ends the watch; it is idempotent.
func (w *treeWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
		unix.Close(w.fd)
	}
}

// Result is what the watch saw: every path created (deduplicated, in
// order), the files that held a private key, and errors adding watches.
func (w *treeWatch) Result() (created, secrets []string, errs []error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return uniq(w.created), uniq(w.secrets), append([]error(nil), w.errs...)
}

func uniq(paths []string) []string {
	var out []string
	have := map[string]bool{}
	for _, p := range paths {
		if !have[p] {
			have[p] = true
			out = append(out, p)
		}
	}
	return out
}

// The watch sees files written at any depth, in directories made after it
// started, and a private key written and removed at once.
func TestTreeWatch(t *testing.T) {
	root := t.TempDir()
	w := watchTree(t, root)
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sub, "ca.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o644)
	// A named pipe (as FAULTLINE_EVENTS is) is seen but never opened: a
	// reader would block the watch and take the app's lines.
	if err := unix.Mkfifo(filepath.Join(sub, "app.events"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(sub, "ca-key.pem")
	os.WriteFile(key, []byte("-----BEGIN EC PRIVATE KEY-----\n"), 0o600)
	// Give the watch a moment to read the key before it goes.
	for i := 0; i < 100; i++ {
		if _, secrets, _ := w.Result(); len(secrets) > 0 {
			break
		}
		unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
	}
	os.Remove(key)
	w.Stop()
	created, secrets, errs := w.Result()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]bool{"a": true, "a/b": true, "a/b/ca.pem": true, "a/b/app.events": true, "a/b/ca-key.pem": true}
	for _, p := range created {
		delete(want, p)
	}
	if len(want) > 0 {
		t.Errorf("created %v; missed %v", created, want)
	}
	if len(secrets) != 1 || secrets[0] != "a/b/ca-key.pem" {
		t.Errorf("secrets %v; want the key", secrets)
	}
}

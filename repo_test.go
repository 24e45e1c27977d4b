// Package faultline has no code at the module root: this file's tests hold the
// repository itself to its rules. No built binary is tracked (a tracked ELF,
// Mach-O, PE or WebAssembly file fails `make test`, and so CI), .gitignore
// covers what the build writes, and the LICENSE is the Apache License 2.0.
package faultline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// executableKind names the executable format whose magic bytes r starts
// with, or returns "" when it is none of them.
func executableKind(r io.ReaderAt) string {
	var h [8]byte
	n, _ := r.ReadAt(h[:], 0)
	b := h[:n]
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "ELF"
	case bytes.HasPrefix(b, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(b, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(b, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe}):
		return "Mach-O"
	case n == 8 && (bytes.HasPrefix(b, []byte{0xca, 0xfe, 0xba, 0xbe}) || bytes.HasPrefix(b, []byte{0xca, 0xfe, 0xba, 0xbf})):
		// A universal (fat) Mach-O: the next word counts its architectures,
		// a few. A Java class file shares the magic, followed by its
		// version (major 45 and up), so the count tells them apart as
		// file(1) does.
		if nfat := binary.BigEndian.Uint32(b[4:]); nfat > 0 && nfat < 20 {
			return "Mach-O universal"
		}
	case bytes.HasPrefix(b, []byte("MZ")):
		// DOS header; a PE file's e_lfanew (at 0x3c) points at "PE\0\0".
		// Checked, so a text file that happens to start with MZ passes.
		var off [4]byte
		if _, err := r.ReadAt(off[:], 0x3c); err != nil {
			return ""
		}
		var sig [4]byte
		if _, err := r.ReadAt(sig[:], int64(binary.LittleEndian.Uint32(off[:]))); err == nil && string(sig[:]) == "PE\x00\x00" {
			return "PE"
		}
	case n == 8 && bytes.Equal(b, []byte("\x00asm\x01\x00\x00\x00")):
		return "WebAssembly"
	}
	return ""
}

// trackedBinaries lists the files git tracks under dir (its index) that are
// executables, each as "path (kind, size)". Symbolic links and submodules
// are not files; a tracked file deleted from the work tree is skipped.
func trackedBinaries(dir string) ([]string, error) {
	out, err := exec.Command("git", "-C", dir, "ls-files", "-s", "-z").Output()
	if err != nil {
		return nil, err
	}
	var found []string
	for _, rec := range strings.Split(string(out), "\x00") {
		// "MODE OBJECT STAGE\tPATH"
		meta, path, ok := strings.Cut(rec, "\t")
		if !ok || strings.HasPrefix(meta, "120000 ") || strings.HasPrefix(meta, "160000 ") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(path)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		kind := executableKind(f)
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, err
		}
		if kind != "" {
			found = append(found, path+" ("+kind+", "+sizeText(fi)+")")
		}
	}
	return found, nil
}

func sizeText(fi os.FileInfo) string {
	switch n := fi.Size(); {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// checkout returns the module root when it is a git checkout with git
// installed, and skips the test otherwise (a module downloaded as a zip, a
// source tarball).
func checkout(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: nothing to check")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--is-inside-work-tree").CombinedOutput()
	if err == nil && strings.TrimSpace(string(out)) == "true" {
		return dir
	}
	if _, serr := os.Lstat(filepath.Join(dir, ".git")); serr == nil {
		// A checkout git will not read (a "dubious ownership" refusal, a
		// broken worktree link) must not pass the check by skipping it.
		t.Fatalf("%s is a git checkout but git rev-parse fails: %v\n%s", dir, err, out)
	}
	t.Skip("not a git checkout: nothing to check")
	return ""
}

func TestNoTrackedBinaries(t *testing.T) {
	dir := checkout(t)
	found, err := trackedBinaries(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Fatalf("git tracks built binaries; remove them (git rm --cached FILE) and make .gitignore cover them:\n  %s",
			strings.Join(found, "\n  "))
	}
}

// TestGitignoreCoversBuildOutput: what `go build ./cmd/NAME` (run at the
// root), `make build`, `go test -c` and profiles write is ignored.
func TestGitignoreCoversBuildOutput(t *testing.T) {
	dir := checkout(t)
	paths := []string{"bin/faultline", "out/dynamodb-empty-dns/report.json", "spec.test", "cpu.prof"}
	cmds, err := os.ReadDir(filepath.Join(dir, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if c.IsDir() {
			paths = append(paths, c.Name(), c.Name()+".exe")
		}
	}
	for _, p := range paths {
		// --no-index: the rules alone, whether or not the path is tracked.
		if err := exec.Command("git", "-C", dir, "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf(".gitignore does not cover %s, which the build writes", p)
		}
	}
}

func TestLicense(t *testing.T) {
	data, err := os.ReadFile("LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		"Apache License\n                           Version 2.0, January 2004",
		"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
		"END OF TERMS AND CONDITIONS",
		"The faultline authors",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("LICENSE lacks %q", want)
		}
	}
}

func TestExecutableKind(t *testing.T) {
	pe := make([]byte, 0x90)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	fat := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2}
	class := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"elf", []byte("\x7fELF\x02\x01\x01\x00"), "ELF"},
		{"macho64", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, "Mach-O"},
		{"macho32be", []byte{0xfe, 0xed, 0xfa, 0xce, 0, 0, 0, 7}, "Mach-O"},
		{"fat", fat, "Mach-O universal"},
		{"java class", class, ""},
		{"pe", pe, "PE"},
		{"MZ text", []byte("MZ is how this line starts, and it is text\n"), ""},
		{"wasm", []byte("\x00asm\x01\x00\x00\x00\x01"), "WebAssembly"},
		{"go source", []byte("package main\n"), ""},
		{"script", []byte("#!/bin/sh\necho hi\n"), ""},
		{"empty", nil, ""},
		{"short", []byte("\x7fE"), ""},
	} {
		if got := executableKind(bytes.NewReader(c.data)); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// TestTrackedBinariesInAScratchRepo: a binary added to a repository is
// found, whatever its name or mode; one that is only on disk, or ignored,
// is not; neither is a script.
func TestTrackedBinariesInAScratchRepo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	write := func(name string, data []byte, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	elf := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 2048)...)
	write("tool", elf, 0o755)
	write("sub dir/data.bin", elf, 0o644)
	write("run.sh", []byte("#!/bin/sh\nexit 0\n"), 0o755)
	write("untracked", elf, 0o755)
	write("main.go", []byte("package main\n"), 0o644)
	git("add", "tool", "sub dir/data.bin", "run.sh", "main.go")

	found, err := trackedBinaries(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sub dir/data.bin (ELF, 2.0 KiB)", "tool (ELF, 2.0 KiB)"}
	if strings.Join(found, "|") != strings.Join(want, "|") {
		t.Fatalf("found %q, want %q", found, want)
	}

	git("rm", "-q", "--cached", "tool", "sub dir/data.bin")
	if found, err := trackedBinaries(dir); err != nil || len(found) != 0 {
		t.Fatalf("after git rm --cached: %q, %v", found, err)
	}
}

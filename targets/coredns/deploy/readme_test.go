package deploy_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The READMEs' Corefile snippets start in the built CoreDNS (their port 53
// moved to a free one), and the `make` targets and files the main README's
// "In a cluster" names exist.
func TestREADMECorefiles(t *testing.T) {
	bin := corednsBinary(t)
	fence := regexp.MustCompile("(?s)(?:```|~~~) ?corefile\n(.*?)\n(?:```|~~~)")
	n := 0
	for _, path := range []string{"../../../README.md", "../plugin/faultline/README.md"} {
		for _, m := range fence.FindAllStringSubmatch(string(mustRead(t, path)), -1) {
			n++
			text := strings.Replace(m[1], ":53 {", ":"+freePort(t)+" {", 1)
			text = strings.Replace(text, "{\n", "{\n    bind 127.0.0.1\n", 1)
			startsIn(t, bin, text)
		}
	}
	if n < 3 {
		t.Errorf("%d Corefile snippets in the READMEs; want the main README's and the plugin's two", n)
	}
}

func TestREADMEClusterSectionNamesWhatExists(t *testing.T) {
	readme := string(mustRead(t, "../../../README.md"))
	start := strings.Index(readme, "## In a cluster\n")
	if start < 0 {
		t.Fatal(`README.md has no "## In a cluster"`)
	}
	section := readme[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	makefile := string(mustRead(t, "../../../Makefile"))
	for _, m := range regexp.MustCompile(`(?m)^make ([a-z-]+)`).FindAllStringSubmatch(section, -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `:`).MatchString(makefile) {
			t.Errorf("README: make %s: no such target", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`targets/coredns/[A-Za-z0-9_./-]+[A-Za-z0-9]`).FindAllString(section, -1) {
		if _, err := os.Stat("../../../" + m); err != nil {
			t.Errorf("README names %s: %v", m, err)
		}
	}
}

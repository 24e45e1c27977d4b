// Package library holds faultline's built-in experiments, embedded in the
// binary so that `faultline run NAME` works from anywhere.
package library

import (
	"embed"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names lists the built-in experiments, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Get returns a built-in experiment's file name and text.
func Get(name string) (file string, data []byte, ok bool) {
	file = name + ".yaml"
	data, err := files.ReadFile(file)
	if err != nil {
		return "", nil, false
	}
	return "library/" + file, data, true
}

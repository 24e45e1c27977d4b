package runner

import (
	"sort"
	"strings"
)

func sortSteps[T any](s []T, less func(a, b T) bool) {
	sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
}

func joinComma(v []string) string { return strings.Join(v, ",") }

package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// timelines draws one row per client over the run, width cells wide: '.' every
// request in the cell succeeded on the primary, 's' succeeded but some on
// another region, 'x' every request failed, '~' mixed, ' ' none. A ruler
// row marks the fault windows with '^'. Requests beyond a client's
// MaxPoints are placed by their trace bucket's middle. With load in the
// journal, a row for the backends: '#' some second in the cell throttled,
// '+' queued (none throttled), '.' neither.
func timelines(s measure.Summary, tr *Trace, width int) string {
	load := s.Storm != nil && len(s.Storm.Server) > 0
	if (len(s.Clients) == 0 && !load) || s.DurationMS <= 0 || tr == nil {
		return ""
	}
	cell := s.DurationMS / float64(width)
	var b strings.Builder
	nameW := len("faults")
	if load {
		nameW = len("backends")
	}
	for _, c := range s.Clients {
		nameW = max(nameW, len(c.Name))
	}
	ruler := []rune(strings.Repeat(" ", width))
	for _, f := range s.Faults {
		end := s.DurationMS
		if f.EndMS != nil {
			end = *f.EndMS
		}
		for i := int(f.StartMS / cell); i < width && float64(i)*cell < end; i++ {
			ruler[i] = '^'
		}
	}
	fmt.Fprintf(&b, "  %-*s |%s| %s\n", nameW, "faults", string(ruler), ms(&s.DurationMS))
	for _, c := range s.Clients {
		ok := make([]int, width)
		bad := make([]int, width)
		away := make([]int, width)
		pts, n := tr.requests(c.Name)
		for k, r := range pts {
			i := int(r.end / cell)
			if i < 0 || i >= width {
				continue
			}
			count := 1
			if n != nil {
				count = n[k]
			}
			switch {
			case !r.ok:
				bad[i] += count
			case r.region != c.Primary:
				away[i] += count
			default:
				ok[i] += count
			}
		}
		row := make([]rune, width)
		for i := range row {
			switch {
			case ok[i]+bad[i]+away[i] == 0:
				row[i] = ' '
			case bad[i] > 0 && ok[i]+away[i] > 0:
				row[i] = '~'
			case bad[i] > 0:
				row[i] = 'x'
			case away[i] > 0:
				row[i] = 's'
			default:
				row[i] = '.'
			}
		}
		fmt.Fprintf(&b, "  %-*s |%s|\n", nameW, c.Name, string(row))
	}
	legend := "'.' ok on primary, 's' ok on another region, 'x' failed, '~' mixed, '^' fault applied"
	if load {
		row := []rune(strings.Repeat(" ", width))
		for _, sec := range s.Storm.Server {
			i := int((sec.TMS - 500) / cell) // the second's middle
			if i < 0 || i >= width {
				continue
			}
			switch {
			case sec.Throttled > 0:
				row[i] = '#'
			case sec.Queue > 0 && row[i] != '#':
				row[i] = '+'
			case row[i] == ' ':
				row[i] = '.'
			}
		}
		fmt.Fprintf(&b, "  %-*s |%s|\n", nameW, "backends", string(row))
		legend += "; backends: '#' throttled, '+' queued, '.' neither"
	}
	b.WriteString("  (" + legend + ")\n")
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

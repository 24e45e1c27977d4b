package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/faultline-dev/faultline/experiments/measure"
)

// WriteDir writes a run's report directory: report.json, report.md,
// junit.xml and report.html into dir ("" writes nothing), from the run's
// summary and its journal's trace. The directory must exist (the run's
// journal.jsonl is already there).
func WriteDir(dir string, s measure.Summary, tr *Trace) error {
	if dir == "" {
		return nil
	}
	write := func(name string, render func(io.Writer) error) error { return writeFile(dir, name, render) }
	return errors.Join(
		write("report.json", func(w io.Writer) error { return JSON(w, s) }),
		write("report.md", func(w io.Writer) error { return Markdown(w, s, tr) }),
		write("junit.xml", func(w io.Writer) error { return JUnit(w, s, tr) }),
		write("report.html", func(w io.Writer) error { return HTML(w, s, tr) }),
	)
}

// writeFile writes dir/name with render; an error names the file.
func writeFile(dir, name string, render func(io.Writer) error) error {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := render(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Close()
}

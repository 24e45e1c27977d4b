package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/faultline-dev/faultline/faults"
	"github.com/faultline-dev/faultline/internal/buildinfo"
)

// version is the module's version and the VCS revision it was built from,
// as the Go toolchain recorded them in the binary.
func version() string { return buildinfo.Version() }

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print faultline's version: the module version and the revision it was built from",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage(c, "version takes no arguments, got %d", c.NArg())
			}
			fmt.Println("faultline", version())
			return nil
		},
	}
}

// completionCommand prints a shell's completion script. bash and zsh ask
// faultline itself (urfave/cli's hidden --generate-bash-completion) what
// may come next; fish gets the commands and flags as a static script.
func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a completion script: bash, zsh or fish (e.g. source <(faultline completion bash))",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usage(c, "completion takes one shell: bash, zsh or fish")
			}
			switch c.Args().First() {
			case "bash":
				fmt.Print(bashCompletion)
			case "zsh":
				fmt.Print(zshCompletion)
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return cli.Exit(err.Error(), exitCrash)
				}
				fmt.Println(script)
			default:
				return usage(c, "completion: unknown shell %q; expected bash, zsh or fish", c.Args().First())
			}
			return nil
		},
	}
}

const bashCompletion = `# faultline completion for bash: source <(faultline completion bash)
_faultline_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  COMPREPLY=( $(compgen -W "$("${words[@]}" --generate-bash-completion 2>/dev/null)" -- "${cur}") )
  if [ ${#COMPREPLY[@]} -eq 0 ]; then COMPREPLY=( $(compgen -f -- "${cur}") ); fi
  return 0
}
complete -o filenames -F _faultline_complete faultline
`

const zshCompletion = `#compdef faultline
# faultline completion for zsh: source <(faultline completion zsh)
_faultline() {
  local -a opts
  opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  if [[ -n "${opts[1]}" ]]; then _describe 'values' opts; else _files; fi
}
compdef _faultline faultline
`

// kindsCommand lists the fault catalogue: every kind, what it acts on,
// and its parameters with their types, defaults, bounds and units.
func kindsCommand() *cli.Command {
	return &cli.Command{
		Name:      "kinds",
		Usage:     "list the fault kinds with their parameters, defaults and units",
		ArgsUsage: "[--format text|json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "text, or json for tools"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage(c, "kinds takes no arguments, got %d", c.NArg())
			}
			kinds := catalogue()
			switch c.String("format") {
			case "json":
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(kinds)
			case "text":
				for i, k := range kinds {
					if i > 0 {
						fmt.Println()
					}
					fmt.Printf("%s (on a %s): %s\n", k.Name, k.Target, k.Summary)
					w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
					for _, p := range k.Params {
						fmt.Fprintf(w, "  %s\t%s\t%s\n", p.Name, p.describe(), p.Doc)
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return nil
			}
			return usage(c, "--format %q: expected text or json", c.String("format"))
		},
	}
}

// kindInfo is a kind as `faultline kinds` shows it.
type kindInfo struct {
	Name    string      `json:"name"`
	Summary string      `json:"summary"`
	Target  string      `json:"target"` // dns-name or region
	Params  []paramInfo `json:"params"`
}

type paramInfo struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // duration, float, int, bool, string
	Unit     string   `json:"unit,omitempty"`
	Default  string   `json:"default,omitempty"`
	Required bool     `json:"required,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Doc      string   `json:"doc"`
}

func catalogue() []kindInfo {
	var out []kindInfo
	for _, k := range faults.Kinds() {
		ki := kindInfo{Name: k.Name(), Summary: k.Summary(), Target: string(k.Target()), Params: []paramInfo{}}
		for _, p := range k.Params() {
			pi := paramInfo{Name: p.Name, Type: string(p.Type), Unit: p.Unit, Default: p.Default, Required: p.Required, Enum: p.Enum, Doc: p.Doc}
			if p.Type == faults.Duration {
				pi.Unit = "a Go duration (250ms, 2s)"
			}
			if p.Bounded {
				lo, hi := p.Min, p.Max
				if p.Type == faults.Duration { // bounds are kept in ms
					pi.Unit = "a Go duration (250ms, 2s); bounds in ms"
				}
				pi.Min, pi.Max = &lo, &hi
			}
			ki.Params = append(ki.Params, pi)
		}
		out = append(out, ki)
	}
	return out
}

// describe is a parameter's type, default and bounds in a few words.
func (p paramInfo) describe() string {
	var b strings.Builder
	b.WriteString(p.Type)
	switch {
	case p.Required:
		b.WriteString(", required")
	case p.Default != "":
		b.WriteString(", default " + p.Default)
	}
	if p.Min != nil {
		lo, hi := fmt.Sprint(*p.Min), fmt.Sprint(*p.Max)
		if p.Type == string(faults.Duration) {
			lo, hi = (time.Duration(*p.Min) * time.Millisecond).String(), (time.Duration(*p.Max) * time.Millisecond).String()
		}
		b.WriteString(", " + lo + " to " + hi)
	}
	if p.Unit != "" && p.Type != string(faults.Duration) {
		b.WriteString(" " + p.Unit)
	}
	if len(p.Enum) > 0 {
		b.WriteString(", one of " + strings.Join(p.Enum, ", "))
	}
	return b.String()
}

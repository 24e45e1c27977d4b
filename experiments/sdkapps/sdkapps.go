// Package sdkapps holds client applications built on stock third-party AWS
// SDKs (boto3, the AWS CLI, the AWS SDK for JavaScript v3, the AWS SDK for Go
// v2 through its config loader), written as teams write them, and the experiment that runs one of them in faultline's
// sandbox. The sandbox tests and the SDK behaviour table (`make sdk-table`,
// README "How stock SDKs behave") use them.
package sdkapps

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

var (
	//go:embed boto3_app.py
	boto3App []byte
	//go:embed awscli_app.sh
	awscliApp []byte
	//go:embed node_app.js
	nodeApp []byte
)

// NodeSDK is the npm package the Node application runs on, pinned.
const NodeSDK = "@aws-sdk/client-dynamodb@3.1164.0"

// App is a third-party client.
type App struct {
	Name    string
	Label   string // what the README's table calls it
	Command []string
	Health  bool   // serves /health on HEALTH_PORT
	file    string // its program, written beside the experiment
	source  []byte
	// pkg, for a Go application: the package built into file.
	pkg string
	// Pooled: it keeps its connections between calls (the AWS CLI starts
	// a process, and so a connection, per call).
	Pooled bool
	// DefaultRetryMode is the SDK's own (AWS_RETRY_MODE unset); RetryModes
	// are the ones its users switch to.
	DefaultRetryMode string
	RetryModes       []string
}

// GoApp is the Go application's package.
const GoApp = "github.com/faultline-dev/faultline/experiments/sdkapps/goapp"

// Apps are the applications, in the order the README's table lists them.
var Apps = []App{
	{Name: "boto3", Label: "boto3", Command: []string{"python3", "boto3_app.py"}, Health: true, file: "boto3_app.py", source: boto3App, Pooled: true,
		DefaultRetryMode: "legacy", RetryModes: []string{"standard", "adaptive"}},
	{Name: "awscli", Label: "AWS CLI", Command: []string{"sh", "awscli_app.sh"}, file: "awscli_app.sh", source: awscliApp,
		DefaultRetryMode: "legacy", RetryModes: []string{"standard", "adaptive"}},
	{Name: "node", Label: "JS v3", Command: []string{"node", "node_app.js"}, Health: true, file: "node_app.js", source: nodeApp, Pooled: true,
		DefaultRetryMode: "standard", RetryModes: []string{"adaptive"}},
	{Name: "gosdk", Label: "Go v2", Command: []string{"./goapp"}, Health: true, file: "goapp", pkg: GoApp, Pooled: true,
		DefaultRetryMode: "standard", RetryModes: []string{"adaptive"}},
}

// Available says why an application cannot run here ("" when it can) and
// the environment it needs: for Node, NODE_PATH to the SDK, installed once
// with npm into cacheDir.
func (a App) Available(cacheDir string) (why string, env map[string]string) {
	switch a.Name {
	case "boto3":
		if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
			return "python3-boto3 is not installed (apt-get install -y python3-boto3)", nil
		}
	case "awscli":
		for _, tool := range []string{"aws", "bc"} {
			if _, err := exec.LookPath(tool); err != nil {
				return tool + " is not installed (apt-get install -y awscli bc)", nil
			}
		}
	case "gosdk":
		if _, err := exec.LookPath("go"); err != nil {
			return "the go command is not installed (the Go application is built from " + GoApp + ")", nil
		}
	case "node":
		modules, err := installNodeSDK(cacheDir)
		if err != nil {
			return err.Error(), nil
		}
		return "", map[string]string{"NODE_PATH": modules}
	}
	return "", nil
}

func installNodeSDK(cacheDir string) (string, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s is not installed (apt-get install -y npm)", tool)
		}
	}
	dir := filepath.Join(cacheDir, "aws-sdk-"+strings.TrimPrefix(strings.ReplaceAll(NodeSDK, "/", "-"), "@"))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "@aws-sdk", "client-dynamodb")); err == nil {
		return modules, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, NodeSDK).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s could not be installed with npm: %v\n%s", NodeSDK, err, out)
	}
	return modules, nil
}

// CacheDir is where downloads are kept between runs: $FAULTLINE_NPM_CACHE,
// or ~/.cache/faultline.
func CacheDir() string {
	if dir := os.Getenv("FAULTLINE_NPM_CACHE"); dir != "" {
		return dir
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "faultline")
}

// Write puts the experiment and the application's program in dir (a Go
// application is built there, from the module faultline is built from: run
// it inside the repository) and returns the experiment file: fault (a DNS
// fault kind) empties, breaks or silences us-east-1's record from 3 s for
// 8 s. Nothing closes the application's pooled connections for it: the
// NLB's default connection lifetimes do (max_connection_age 2s: README
// "Load balancers, AZs and DNS"). failover sets the application's FAILOVER;
// env is added to its environment (AWS_RETRY_MODE, say); healthPort is its
// health endpoint's port.
func (a App) Write(dir, fault string, failover bool, env map[string]string, healthPort int) (string, error) {
	if a.pkg != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, a.file), a.pkg).CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %v\n%s", a.pkg, err, out)
		}
	} else if err := os.WriteFile(filepath.Join(dir, a.file), a.source, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: sdk-%s-%s\ntopology:\n  dns: {ttl: 1s, negative_ttl: 1s}\n  table: {name: orders, items: 100}\n", a.Name, strings.ReplaceAll(fault, ".", "-"))
	fmt.Fprintf(&b, "  regions: [{name: us-east-1}, {name: us-west-2}]\nclients:\n  - name: %s\n    command: [%s]\n    env:\n", a.Name, strings.Join(a.Command, ", "))
	fo := "0"
	if failover {
		fo = "1"
	}
	fmt.Fprintf(&b, "      FAILOVER: %q\n", fo)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "      %s: %q\n", k, env[k])
	}
	if a.Health {
		fmt.Fprintf(&b, "      HEALTH_PORT: \"%d\"\n    health: {url: \"http://127.0.0.1:%d/health\", interval: 100ms}\n", healthPort, healthPort)
	}
	fmt.Fprintf(&b, "schedule:\n  duration: 25s\n  faults:\n    - {id: f1, kind: %s, target: dynamodb.us-east-1.amazonaws.com, start: 3s, duration: 8s}\n", fault)
	exp := filepath.Join(dir, "experiment.yaml")
	return exp, os.WriteFile(exp, []byte(b.String()), 0o644)
}

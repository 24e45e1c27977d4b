package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// faultline export: the exit-code contract and what each bad input says.
func TestExportCommand(t *testing.T) {
	role := "arn:aws:iam::123456789012:role/fis-experiments"
	subnet := "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0123456789abcdef0"
	bad := writeFile(t, "bad.yaml", "name: x\ntopology:\n  regions:\n    - name: us-east-1\nclients: []\nschedule:\n  duration: soon\n")
	nothing := writeFile(t, "nothing.yaml", `name: nothing
topology:
  regions:
    - name: us-east-1
clients:
  - name: app
    strategy: single-region
    regions: [us-east-1]
schedule:
  duration: 10s
  faults:
    - {kind: nlb.node-down, target: us-east-1, start: 1s, duration: 2s}
`)
	cm := []string{"export", "--to", "chaos-mesh", "--namespace", "shop", "--selector", "app=orders"}
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no engine", []string{"export", "dynamodb-empty-dns"}, 2, []string{"--to is required: chaos-mesh or fis"}},
		{"unknown engine", []string{"export", "--to", "litmus", "dynamodb-empty-dns"}, 2, []string{`--to "litmus": expected chaos-mesh or fis`}},
		{"no namespace", []string{"export", "--to", "chaos-mesh", "dynamodb-empty-dns"}, 2, []string{"--namespace: required with --to chaos-mesh"}},
		{"no selector", []string{"export", "--to", "chaos-mesh", "--namespace", "shop", "dynamodb-empty-dns"}, 2, []string{"--selector: required"}},
		{"bad selector", append(cm[:len(cm):len(cm)], "--selector", "orders", "dynamodb-empty-dns"), 2, []string{`--selector "orders": expected KEY=VALUE`}},
		{"a flag of the other engine", []string{"export", "--to", "fis", "--namespace", "shop", "dynamodb-empty-dns"}, 2, []string{"--namespace is not for --to fis"}},
		{"no role", []string{"export", "--to", "fis", "dynamodb-empty-dns"}, 2, []string{"--role-arn: required with --to fis"}},
		{"malformed role", []string{"export", "--to", "fis", "--role-arn", "arn:aws:iam::12345:role/x", "dynamodb-empty-dns"}, 2, []string{`"arn:aws:iam::12345:role/x" is not a iam ARN`}},
		{"no subnets", []string{"export", "--to", "fis", "--role-arn", role, "dynamodb-empty-dns"}, 2, []string{"--subnet: required by the faults that block DynamoDB from the clients' subnets (f1)"}},
		{"malformed subnet", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", "arn:aws:ec2:us-east-1:123456789012:subnet/nope", "dynamodb-empty-dns"}, 2, []string{"is not a ec2 ARN"}},
		{"subnet in another Region", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", strings.Replace(subnet, "us-east-1", "eu-west-1", 1), "dynamodb-empty-dns"}, 2, []string{`is in Region "eu-west-1"; the template acts in us-east-1`}},
		{"malformed table ARN, even unneeded", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", subnet, "--table-arn", "arn:aws:dynamodb:us-east-1:123456789012:orders", "dynamodb-empty-dns"}, 2, []string{"--table-arn: \"arn:aws:dynamodb:us-east-1:123456789012:orders\" is not a dynamodb ARN; expected one like arn:aws:dynamodb:us-east-1:123456789012:table/orders"}},
		{"bad AZ", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", subnet, "--az", "east", "dynamodb-empty-dns"}, 2, []string{`--az: "east" is not an Availability Zone name`}},
		{"subnets two ways", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", subnet, "--subnet-tag", "tier=app", "dynamodb-empty-dns"}, 2, []string{"not both"}},
		{"no load balancer for an AZ flap", []string{"export", "--to", "fis", "--role-arn", role, "nlb-healthcheck-flap"}, 2, []string{"--load-balancer-arn: required by the faults that shift traffic away from an AZ (flap)"}},
		{"no AZs for an AZ flap", []string{"export", "--to", "fis", "--role-arn", role, "--load-balancer-arn", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/orders/0123456789abcdef", "nlb-healthcheck-flap"}, 2, []string{"--az: fault flap shifts traffic away from AZ 1"}},
		{"too many stop alarms", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", subnet, "--stop-alarm", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a", "dynamodb-empty-dns"}, 2, []string{"--stop-alarm: 1 given, but the experiment has 0 stop_when entries"}},
		{"bad time scale", append(cm[:len(cm):len(cm)], "--time-scale", "0", "dynamodb-empty-dns"), 2, []string{"--time-scale 0"}},
		{"an invalid experiment file", append(cm[:len(cm):len(cm)], bad), 2, []string{"bad.yaml:7:13: schedule.duration"}},
		{"approximations refused", append(cm[:len(cm):len(cm)], "dynamodb-empty-dns"), 1, []string{"f1 (dns.empty): approximated", "nothing was written", "f1     dns.empty  approximated  DNSChaos error"}},
		{"not expressible refused", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", subnet, "dynamodb-2025-10-20"}, 1, []string{"replication-lag (ddb.replication-lag): not expressible", "race (dns.plan-race): approximated"}},
		{"approximations accepted", append(cm[:len(cm):len(cm)], "--approximate", "dynamodb-2025-10-20"), 0, []string{"kind: Workflow", "action: error", "replication-lag  ddb.replication-lag  not expressible"}},
		{"fis accepted", []string{"export", "--to", "fis", "--role-arn", role, "--subnet", subnet, "--approximate", "--time-scale", "60", "dynamodb-empty-dns"}, 0, []string{`"scope": "dynamodb"`, `"duration": "PT6M"`, `"startAfter"`}},
		{"objects", append(cm[:len(cm):len(cm)], "--objects", "--approximate", "dynamodb-empty-dns"), 0, []string{"kind: DNSChaos", "duration: 6s", "starts when applied, not 3s after the others"}},
		{"objects refused for a start", append(cm[:len(cm):len(cm)], "--objects", "dynamodb-empty-dns"), 1, []string{"f1 (dns.empty): approximated"}},
		{"objects are chaos-mesh's", []string{"export", "--to", "fis", "--objects", "dynamodb-empty-dns"}, 2, []string{"--objects is not for --to fis"}},
		{"nothing expressible", append(cm[:len(cm):len(cm)], "--approximate", nothing), 1, []string{"no fault of nothing can be expressed in chaos-mesh; nothing was written"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := faultline(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d:\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the output lacks %q:\n%s", w, out)
				}
			}
			if c.code != 0 && (strings.Contains(out, "apiVersion:") || strings.Contains(out, `"roleArn"`)) {
				t.Errorf("a refused export wrote its document:\n%s", out)
			}
		})
	}
}

// --out writes the document to a file; the table stays on standard error.
func TestExportOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "workflow.yaml")
	code, text := faultline(t, "export", "--to", "chaos-mesh", "--namespace", "shop", "--selector", "app=orders", "--approximate", "--out", out, "dynamodb-empty-dns")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "kind: Workflow") || strings.Contains(text, "kind: Workflow") {
		t.Errorf("the Workflow is not (only) in %s:\n%s\noutput:\n%s", out, doc, text)
	}
	if !strings.Contains(text, "wrote "+out) || !strings.Contains(text, "dns.empty  approximated") {
		t.Errorf("the table or the file's name is missing:\n%s", text)
	}
}

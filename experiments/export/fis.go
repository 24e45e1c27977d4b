package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/experiments/spec"
	"github.com/faultline-dev/faultline/faults"
)

// AWS FIS: the experiment becomes the input of CreateExperimentTemplate
// (botocore's service model fis/2020-12-01, shape
// CreateExperimentTemplateRequest), for `aws fis create-experiment-template
// --cli-input-json file://FILE`; the CLI fills in clientToken. The actions,
// from the FIS actions reference
// (docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html):
//   - aws:network:disrupt-connectivity, target type aws:ec2:subnet (action
//     target key "Subnets"), parameters scope and duration: scope dynamodb
//     "denies traffic to and from the Regional endpoint for DynamoDB in the
//     current Region" by cloning the subnet's network ACL with deny rules
//     (other scopes: all, availability-zone, prefix-list, s3, s3express,
//     vpc). Duration from one minute to 12 hours.
//   - aws:dynamodb:global-table-pause-replication, target type
//     aws:dynamodb:global-table (key "Tables"), parameter duration: denies the
//     replication service's reads and writes on the replica through its
//     resource policy; "tables may continue to be replicated for up to 5
//     minutes after action begins".
//   - aws:arc:start-zonal-autoshift, target type
//     aws:arc:zonal-shift-managed-resource (key "ManagedResources"),
//     parameters duration, availabilityZoneIdentifier (an AZ name or ID),
//     managedResourceTypes (ASG, ALB, NLB, EKS) and zonalAutoshiftStatus
//     (ENABLED, DISABLED or ANY; ENABLED by default): moves the resource's
//     traffic away from the AZ through ARC's zonal shift.
//   - aws:fis:wait, parameter duration (one minute to 12 hours): FIS has
//     no start times, only startAfter (an action starts when the actions it
//     names have completed, else at the experiment's start), so a fault
//     that starts at T is an action after a wait of T.
// Durations are ISO 8601 strings (PT1M). FIS has no DNS action at all.

// FISOptions are what the experiment does not know about the AWS account.
type FISOptions struct {
	// Region is where the template is created: FIS acts in its own Region
	// (scope dynamodb is "the current Region"'s endpoint). "" takes the
	// Region of the experiment's first fault that names one.
	Region          string
	RoleARN         string            // the role FIS assumes (required)
	Subnets         []string          // subnet ARNs standing for the clients (disrupt-connectivity)
	SubnetTags      map[string]string // or the subnets' tags
	TableARN        string            // the global table's replica in Region (pause-replication)
	LoadBalancerARN string            // the NLB standing for the region's (zonal shift)
	AZs             []string          // the AZ names or IDs of the experiment's nodes 1, 2, … (zonal shift)
	StopAlarms      []string          // one CloudWatch alarm ARN per stop_when entry, in order
	TimeScale       float64
}

// The CreateExperimentTemplate input (botocore's member names).
type (
	fisTemplate struct {
		Description    string               `json:"description"`
		RoleArn        string               `json:"roleArn"`
		StopConditions []fisStop            `json:"stopConditions"`
		Targets        map[string]fisTarget `json:"targets"`
		Actions        map[string]fisAction `json:"actions"`
		Tags           map[string]string    `json:"tags"`
	}
	fisStop struct {
		Source string `json:"source"` // aws:cloudwatch:alarm or none
		Value  string `json:"value,omitempty"`
	}
	fisTarget struct {
		ResourceType  string            `json:"resourceType"`
		ResourceArns  []string          `json:"resourceArns,omitempty"`
		ResourceTags  map[string]string `json:"resourceTags,omitempty"`
		SelectionMode string            `json:"selectionMode"`
	}
	fisAction struct {
		ActionID    string            `json:"actionId"`
		Description string            `json:"description,omitempty"`
		Parameters  map[string]string `json:"parameters,omitempty"`
		Targets     map[string]string `json:"targets,omitempty"`
		StartAfter  []string          `json:"startAfter,omitempty"`
	}
)

// The template's targets, by what the actions need.
const (
	targetSubnets = "subnets"
	targetTable   = "global-table"
	targetNLB     = "load-balancer"
)

// fisPlan is a fault's action before the template is assembled.
type fisPlan struct {
	actionID  string
	target    string // one of the target names above
	targetKey string // the action's key for it: Subnets, Tables, ManagedResources
	params    map[string]string
	minimum   time.Duration // the action's shortest duration (0: none documented)
}

// Documented bounds of the actions' durations.
const (
	fisMinDuration = time.Minute
	fisMaxDuration = 12 * time.Hour
)

// FIS writes the experiment as an AWS FIS experiment template.
func FIS(exp *spec.Experiment, o FISOptions) (Result, error) {
	res := Result{Engine: "fis"}
	region := o.Region
	if region == "" {
		region = firstRegion(exp)
	} else if !regionPattern.MatchString(region) {
		return Result{}, &InputError{Flag: "--region", Msg: fmt.Sprintf("%q is not an AWS Region (like us-east-1)", region)}
	}
	plans := map[string]*fisPlan{}
	for _, f := range exp.Faults {
		m, plan, err := o.mapFault(exp, region, f)
		if err != nil {
			return Result{}, err
		}
		if plan != nil {
			plans[f.ID] = plan
		}
		res.Mappings = append(res.Mappings, m)
	}
	if region != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("the template acts in %s (create it there; FIS experiments are regional)", region))
	}
	if err := o.checkInputs(exp, region, plans); err != nil {
		return Result{}, err
	}
	stops, stopNotes := o.stopConditions(exp)
	res.Notes = append(res.Notes, stopNotes...)
	if len(plans) == 0 {
		return res, nil
	}
	t := fisTemplate{
		Description:    truncate(fmt.Sprintf("faultline experiment %s: %s", exp.Name, exp.Description), 512),
		RoleArn:        o.RoleARN,
		StopConditions: stops,
		Targets:        map[string]fisTarget{},
		Actions:        map[string]fisAction{},
		Tags:           map[string]string{"faultline:experiment": truncate(exp.Name, 256)},
	}
	used := map[string]bool{}
	for i, f := range exp.Faults {
		plan := plans[f.ID]
		if plan == nil {
			continue
		}
		m := &res.Mappings[i]
		var hows []string
		name := uniqueAction(f.ID, used)
		start, dur := scale(f.Start, o.TimeScale), scale(f.Duration, o.TimeScale)
		d, how := fisDuration(dur, plan.minimum, "lasts")
		hows = append(hows, how)
		plan.params["duration"] = d
		a := fisAction{ActionID: plan.actionID, Parameters: plan.params, Targets: map[string]string{plan.targetKey: plan.target},
			Description: truncate(fmt.Sprintf("faultline fault %s: %s on %s", f.ID, f.Kind, strings.TrimSuffix(f.Target, ".")), 512)}
		if start > 0 {
			wait := uniqueAction(f.ID+"-wait", used)
			wd, how := fisDuration(start, fisMinDuration, "starts after")
			hows = append(hows, how)
			t.Actions[wait] = fisAction{ActionID: "aws:fis:wait", Parameters: map[string]string{"duration": wd},
				Description: truncate(fmt.Sprintf("faultline fault %s starts at %s", f.ID, start), 512)}
			a.StartAfter = []string{wait}
		}
		t.Actions[name] = a
		t.Targets[plan.target] = o.target(plan.target)
		if h := joinNonEmpty(hows); h != "" {
			m.Fidelity = max(m.Fidelity, Approximated)
			m.How = joinNonEmpty([]string{m.How, h})
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return Result{}, err
	}
	res.Document = buf.Bytes()
	return res, nil
}

func (o FISOptions) target(name string) fisTarget {
	switch name {
	case targetSubnets:
		if len(o.Subnets) > 0 {
			return fisTarget{ResourceType: "aws:ec2:subnet", ResourceArns: o.Subnets, SelectionMode: "ALL"}
		}
		return fisTarget{ResourceType: "aws:ec2:subnet", ResourceTags: o.SubnetTags, SelectionMode: "ALL"}
	case targetTable:
		return fisTarget{ResourceType: "aws:dynamodb:global-table", ResourceArns: []string{o.TableARN}, SelectionMode: "ALL"}
	}
	return fisTarget{ResourceType: "aws:arc:zonal-shift-managed-resource", ResourceArns: []string{o.LoadBalancerARN}, SelectionMode: "ALL"}
}

// firstRegion is the Region of the experiment's first fault that names one.
func firstRegion(exp *spec.Experiment) string {
	for _, f := range exp.Faults {
		if isDNSKind(f.Kind) {
			if eps, _ := selected(exp, f); len(eps) > 0 {
				return eps[0].Region
			}
			continue
		}
		return f.Target
	}
	return ""
}

const dynamodbHowTail = "; negative caching and resolver behaviour are not reproduced"

func (o FISOptions) mapFault(exp *spec.Experiment, region string, f faults.Fault) (Mapping, *fisPlan, error) {
	p, err := params(f)
	if err != nil {
		return Mapping{}, nil, err
	}
	disrupt := &fisPlan{actionID: "aws:network:disrupt-connectivity", target: targetSubnets, targetKey: "Subnets",
		params: map[string]string{"scope": "dynamodb"}, minimum: fisMinDuration}
	const as = "aws:network:disrupt-connectivity scope dynamodb"
	drops := "aws:network:disrupt-connectivity scope dynamodb drops the subnets' packets to and from DynamoDB's Regional endpoint"
	switch p := p.(type) {
	case faults.DNSEmpty, faults.DNSNXDomain, faults.DNSServFail, faults.DNSRefused, faults.DNSTimeout, faults.DNSPlanRace:
		var what string
		switch p.(type) {
		case faults.DNSEmpty:
			what = "FIS has no DNS action and the empty answer (NOERROR without records) has no FIS equivalent: " + drops + " instead, so clients time out rather than get an empty answer (\"no such host\")"
		case faults.DNSNXDomain:
			what = "FIS has no DNS action: " + drops + " instead, so clients time out rather than get NXDOMAIN"
		case faults.DNSServFail:
			what = "FIS has no DNS action: " + drops + " instead, so clients time out rather than get SERVFAIL (which resolvers and SDKs retry at once)"
		case faults.DNSRefused:
			what = "FIS has no DNS action: " + drops + " instead, so clients time out rather than get REFUSED"
		case faults.DNSTimeout:
			what = "FIS has no DNS action: " + drops + " instead, so the name still resolves and the connections time out, not the query"
		case faults.DNSPlanRace:
			what = "there is no DNS automation to slow down: the race's outcome (the record empty until the repair) stands in from the fault's start, and as FIS has no DNS action, " + drops + ": clients time out rather than get an empty answer"
		}
		hows := []string{what + dynamodbHowTail}
		sel, ok := faults.SelectorOf(p)
		if ok {
			if sel.Probability < 1 {
				return notExpressible(f, fmt.Sprintf("a network ACL drops all of the subnets' traffic to the endpoint; a share of the queries (probability %g) cannot be dropped", sel.Probability)), nil, nil
			}
			if len(sel.QType) == 1 && sel.QType[0] != 1 { // only AAAA: the IPv4 path is unharmed
				return notExpressible(f, "only AAAA queries are faulted, so clients still reach the endpoint over IPv4; blocking the endpoint would be a different, larger fault"), nil, nil
			}
			if sel.Client != nil {
				hows = append(hows, fmt.Sprintf("client %s is one of faultline's loopback clients: the subnets given stand for it", sel.Client[0]))
			}
		}
		eps, pattern := selected(exp, f)
		var here, elsewhere []string
		for _, e := range eps {
			switch {
			case e.Region == region && e.Name == "dynamodb."+region+".amazonaws.com":
				here = append(here, e.Name)
			default:
				elsewhere = append(elsewhere, e.Name)
			}
		}
		if len(here) == 0 {
			return notExpressible(f, fmt.Sprintf("scope dynamodb blocks only the DynamoDB endpoint of the Region the experiment runs in (dynamodb.%s.amazonaws.com); this fault acts on %s (export again with --region for another Region)", region, strings.Join(names(eps), ", "))), nil, nil
		}
		if len(elsewhere) > 0 || pattern {
			hows = append(hows, fmt.Sprintf("the target %s: only %s is blocked (FIS acts in one Region; export again with --region for %s)", strings.TrimSuffix(f.Target, "."), here[0], strings.Join(elsewhere, ", ")))
		}
		return approximated(f, as, strings.Join(hows, "; ")), disrupt, nil
	case faults.DNSFlap:
		return notExpressible(f, "FIS runs each action once, for at least a minute, and has no DNS action: an alternation of faulty and normal answers cannot be expressed"), nil, nil
	case faults.DNSDelay, faults.DNSTruncate, faults.DNSPartial, faults.DNSStale, faults.DNSTTL, faults.DNSRedirect:
		return notExpressible(f, "FIS has no DNS action: it cannot delay, truncate, trim, replace or re-time answers"), nil, nil
	case faults.DDBReplicationPause:
		if f.Target != region {
			return notExpressible(f, fmt.Sprintf("the replica in %s would be paused from a template in %s; export again with --region %s", f.Target, region, f.Target)), nil, nil
		}
		how := "FIS says replication may go on for up to 5 minutes after the action begins"
		if p.Direction != "both" {
			how += fmt.Sprintf("; FIS pauses the replica's replication both ways, not only %s", p.Direction)
		}
		return approximated(f, "aws:dynamodb:global-table-pause-replication", how),
			&fisPlan{actionID: "aws:dynamodb:global-table-pause-replication", target: targetTable, targetKey: "Tables", params: map[string]string{}}, nil
	case faults.DDBReplicationLag:
		return notExpressible(f, "FIS can pause a global table's replication, not slow it"), nil, nil
	case faults.LinkDown, faults.LinkTimeout:
		if f.Target != region {
			return notExpressible(f, fmt.Sprintf("scope dynamodb blocks the endpoint of the template's Region (%s), not %s's; export again with --region %s", region, f.Target, f.Target)), nil, nil
		}
		return approximated(f, as, drops+" rather than the load balancer's links to its targets: connections time out instead of being refused or held"+dynamodbHowTail), disrupt, nil
	case faults.LinkLatency, faults.LinkBandwidth:
		return notExpressible(f, "FIS shapes latency and bandwidth on instances, ECS tasks or EKS pods (aws:ssm:send-command AWSFIS-Run-Network-Latency, aws:ecs:task-network-latency, aws:eks:pod-network-latency), not on subnets, which are what this export targets"), nil, nil
	case faults.LinkReset, faults.LinkSlowClose, faults.LinkSlicer, faults.LinkLimitData:
		return notExpressible(f, "FIS has no action that resets, slows the close of, slices or cuts connections"), nil, nil
	case faults.HCFlap:
		if p.Target == 0 {
			return notExpressible(f, "every target's checks fail together and the load balancer fails open; FIS cannot fail its health checks and ARC cannot shift traffic away from every AZ"), nil, nil
		}
		if f.Target != region {
			return notExpressible(f, fmt.Sprintf("the zonal shift would act in %s from a template in %s; export again with --region %s", f.Target, region, f.Target)), nil, nil
		}
		r, _ := exp.Topology.Region(f.Target)
		az := (p.Target - 1) % r.Nodes
		plan := &fisPlan{actionID: "aws:arc:start-zonal-autoshift", target: targetNLB, targetKey: "ManagedResources",
			params: map[string]string{"managedResourceTypes": "NLB", "zonalAutoshiftStatus": "ANY"}}
		if az < len(o.AZs) {
			plan.params["availabilityZoneIdentifier"] = o.AZs[az]
		}
		plan.params["faultline:az"] = fmt.Sprint(az + 1) // read by checkInputs, removed there
		where := fmt.Sprintf("AZ %d (node %d)", az+1, az+1)
		if az < len(o.AZs) {
			where = fmt.Sprintf("%s (the experiment's AZ %d)", o.AZs[az], az+1)
		}
		return approximated(f, "aws:arc:start-zonal-autoshift", fmt.Sprintf("ARC's zonal shift moves the load balancer's traffic away from %s for the fault's whole length, as its failing health checks did (the load balancer must be enabled for zonal shift: attribute zonal_shift.config.enabled); the flapping (period %s, duty %g) and the unhealthy targets are not reproduced", where, p.Period, p.Duty)), plan, nil
	case faults.HCFail, faults.HCReset, faults.HCSlow:
		return notExpressible(f, "every target's checks fail and the load balancer fails open; FIS cannot fail its health checks and ARC cannot shift traffic away from every AZ"), nil, nil
	case faults.HCPropagationDelay:
		return notExpressible(f, "FIS cannot make targets refuse data after passing their health checks"), nil, nil
	case faults.NLBNodeDown:
		return notExpressible(f, "a node that stops while DNS still publishes it has no FIS action; ARC's zonal shift would take the AZ out of DNS, the opposite of what this fault tests"), nil, nil
	case faults.NLBResetConnections:
		return notExpressible(f, "FIS cannot reset a load balancer's connections"), nil, nil
	}
	return notExpressible(f, fmt.Sprintf("no FIS action for %s", f.Kind)), nil, nil
}

var (
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`)
	// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE
	arnPattern = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12}):(.+)$`)
)

// arn checks an ARN of a service and resource shape, in a Region ("" for
// a global one like IAM's).
func arn(flag, value, service, region string, resource *regexp.Regexp, example string) error {
	m := arnPattern.FindStringSubmatch(value)
	switch {
	case m == nil || m[2] != service || !resource.MatchString(m[5]):
		return &InputError{Flag: flag, Msg: fmt.Sprintf("%q is not a %s ARN; expected one like %s", value, service, example)}
	case region == "" && m[3] != "" && service == "iam":
		return &InputError{Flag: flag, Msg: fmt.Sprintf("%q: IAM ARNs have no Region", value)}
	case region != "" && m[3] != region:
		return &InputError{Flag: flag, Msg: fmt.Sprintf("%q is in Region %q; the template acts in %s (--region)", value, m[3], region)}
	}
	return nil
}

var (
	roleResource   = regexp.MustCompile(`^role/[\w+=,.@/-]{1,512}$`)
	subnetResource = regexp.MustCompile(`^subnet/subnet-[0-9a-f]{8,17}$`)
	tableResource  = regexp.MustCompile(`^table/[a-zA-Z0-9_.-]{3,255}$`)
	alarmResource  = regexp.MustCompile(`^alarm:.{1,255}$`)
	nlbResource    = regexp.MustCompile(`^loadbalancer/net/[a-zA-Z0-9-]{1,32}/[0-9a-f]{16}$`)
)

// checkInputs checks the flags: the role always, the others when a fault
// needs them.
func (o FISOptions) checkInputs(exp *spec.Experiment, region string, plans map[string]*fisPlan) error {
	if o.RoleARN == "" {
		return &InputError{Flag: "--role-arn", Msg: "required with --to fis: the IAM role FIS assumes to run the experiment, like arn:aws:iam::123456789012:role/fis-experiments"}
	}
	if err := arn("--role-arn", o.RoleARN, "iam", "", roleResource, "arn:aws:iam::123456789012:role/fis-experiments"); err != nil {
		return err
	}
	// Every flag given is checked, needed or not: a malformed ARN is a
	// mistake whether or not this experiment uses it.
	for _, sub := range o.Subnets {
		if err := arn("--subnet", sub, "ec2", region, subnetResource, "arn:aws:ec2:"+region+":123456789012:subnet/subnet-0123456789abcdef0"); err != nil {
			return err
		}
	}
	if o.TableARN != "" {
		if err := arn("--table-arn", o.TableARN, "dynamodb", region, tableResource, "arn:aws:dynamodb:"+region+":123456789012:table/orders"); err != nil {
			return err
		}
	}
	if o.LoadBalancerARN != "" {
		if err := arn("--load-balancer-arn", o.LoadBalancerARN, "elasticloadbalancing", region, nlbResource, "arn:aws:elasticloadbalancing:"+region+":123456789012:loadbalancer/net/orders/0123456789abcdef"); err != nil {
			return err
		}
	}
	for _, az := range o.AZs {
		if !azPattern.MatchString(az) {
			return &InputError{Flag: "--az", Msg: fmt.Sprintf("%q is not an Availability Zone name (%sa) or ID (use1-az1)", az, region)}
		}
	}
	switch {
	case len(o.Subnets) > 0 && len(o.SubnetTags) > 0:
		return &InputError{Flag: "--subnet-tag", Msg: "give the subnets by ARN (--subnet) or by tag (--subnet-tag), not both"}
	case len(o.Subnets) > 5:
		return &InputError{Flag: "--subnet", Msg: fmt.Sprintf("%d subnets: a FIS target takes at most 5 ARNs; tag them and use --subnet-tag", len(o.Subnets))}
	}
	needs := map[string][]string{}
	for _, f := range exp.Faults {
		if p := plans[f.ID]; p != nil {
			needs[p.target] = append(needs[p.target], f.ID)
		}
	}
	if ids := needs[targetSubnets]; ids != nil && len(o.Subnets) == 0 && len(o.SubnetTags) == 0 {
		return &InputError{Flag: "--subnet", Msg: fmt.Sprintf("required by the faults that block DynamoDB from the clients' subnets (%s): the subnets the clients run in, --subnet ARN (up to 5) or --subnet-tag KEY=VALUE", strings.Join(ids, ", "))}
	}
	if ids := needs[targetTable]; ids != nil && o.TableARN == "" {
		return &InputError{Flag: "--table-arn", Msg: fmt.Sprintf("required by the faults that pause the global table's replication (%s): its replica in %s, like arn:aws:dynamodb:%s:123456789012:table/%s", strings.Join(ids, ", "), region, region, exp.Topology.Table.Name)}
	}
	if ids := needs[targetNLB]; ids != nil {
		if o.LoadBalancerARN == "" {
			return &InputError{Flag: "--load-balancer-arn", Msg: fmt.Sprintf("required by the faults that shift traffic away from an AZ (%s): the Network Load Balancer, enabled for ARC zonal shift, like arn:aws:elasticloadbalancing:%s:123456789012:loadbalancer/net/orders/0123456789abcdef", strings.Join(ids, ", "), region)}
		}
		for _, id := range ids {
			p := plans[id]
			az := p.params["faultline:az"]
			delete(p.params, "faultline:az")
			if p.params["availabilityZoneIdentifier"] == "" {
				return &InputError{Flag: "--az", Msg: fmt.Sprintf("fault %s shifts traffic away from AZ %s: give the AZ names or IDs of the experiment's nodes in order (--az %sa --az %sb …, or IDs like use1-az1)", id, az, region, region)}
			}
		}
	}
	for _, a := range o.StopAlarms {
		if err := arn("--stop-alarm", a, "cloudwatch", region, alarmResource, "arn:aws:cloudwatch:"+region+":123456789012:alarm:orders-availability"); err != nil {
			return err
		}
	}
	if n, m := len(exp.StopWhen), len(o.StopAlarms); m > 0 && n != m {
		return &InputError{Flag: "--stop-alarm", Msg: fmt.Sprintf("%d given, but the experiment has %d stop_when entries: give one CloudWatch alarm per entry, in order, each the alarm that watches what its entry says", m, n)}
	}
	return nil
}

var azPattern = regexp.MustCompile(`^([a-z]{2}(-gov)?-[a-z]+-\d[a-z]|[a-z]{2,5}\d?-az\d{1,2})$`)

// stopConditions: each stop_when entry becomes the CloudWatch alarm given
// for it, in order (source aws:cloudwatch:alarm, value the alarm's ARN);
// without alarms the list holds source none, which botocore's model
// documents as "Specify none if there is no stop condition" (the list
// itself is required).
func (o FISOptions) stopConditions(exp *spec.Experiment) ([]fisStop, []string) {
	if len(o.StopAlarms) == 0 {
		if len(exp.StopWhen) > 0 {
			var conds []string
			for _, s := range exp.StopWhen {
				conds = append(conds, s.Client+": "+s.Expr)
			}
			return []fisStop{{Source: "none"}}, []string{fmt.Sprintf("stop_when (%s) has no stop condition in the template: FIS stops on CloudWatch alarms; give one --stop-alarm ARN per entry, in order", strings.Join(conds, "; "))}
		}
		return []fisStop{{Source: "none"}}, nil
	}
	var stops []fisStop
	var notes []string
	for i, a := range o.StopAlarms {
		stops = append(stops, fisStop{Source: "aws:cloudwatch:alarm", Value: a})
		s := exp.StopWhen[i]
		notes = append(notes, fmt.Sprintf("stop_when[%d] (%s: %s) is the alarm %s: FIS stops the experiment when it is in ALARM", i, s.Client, s.Expr, a))
	}
	return stops, notes
}

// fisDuration is d in ISO 8601 (PT1H2M3S), whole seconds, at least min;
// how says what had to change.
func fisDuration(d, minimum time.Duration, what string) (string, string) {
	var hows []string
	if d%time.Second != 0 {
		r := d.Round(time.Second)
		if r == 0 {
			r = time.Second
		}
		hows = append(hows, fmt.Sprintf("%s %s, rounded to %s (FIS durations are whole seconds here)", what, d, r))
		d = r
	}
	if minimum > 0 && d < minimum {
		hows = append(hows, fmt.Sprintf("%s %s rather than %s: the action's shortest duration is %s (--time-scale stretches the experiment)", what, minimum, d, minimum))
		d = minimum
	}
	if d > fisMaxDuration {
		hows = append(hows, fmt.Sprintf("%s %s rather than %s: the longest FIS duration", what, fisMaxDuration, d))
		d = fisMaxDuration
	}
	s := int64(d / time.Second)
	out := "PT"
	if h := s / 3600; h > 0 {
		out += fmt.Sprintf("%dH", h)
	}
	if m := s % 3600 / 60; m > 0 {
		out += fmt.Sprintf("%dM", m)
	}
	if sec := s % 60; sec > 0 || out == "PT" {
		out += fmt.Sprintf("%dS", sec)
	}
	return out, strings.Join(hows, "; ")
}

// uniqueAction is an action name (at most 64 characters, no spaces) not
// used before.
func uniqueAction(name string, used map[string]bool) string {
	name = truncate(strings.Join(strings.Fields(name), "-"), 60)
	out := name
	for i := 2; used[out]; i++ {
		out = fmt.Sprintf("%s-%d", name, i)
	}
	used[out] = true
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r)) > n {
		r = r[:len(r)-1]
	}
	return string(r)
}

func joinNonEmpty(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

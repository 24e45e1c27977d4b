// Package appclient runs a client application faultline did not write (as a
// container here; see README "Client applications") and journals its
// requests from the JSON lines it prints (experiments/applog).
package appclient

import (
	"fmt"
	"sort"
	"strings"
)

// Env is the environment faultline gives an application: where its regions'
// endpoints are, the table, a region and dummy credentials for stock SDKs.
// The application's own variables (own) win over faultline's.
//
// endpointOverride sets AWS_ENDPOINT_URL_DYNAMODB to the primary's endpoint,
// for a container that reaches the nodes on a port of their own; in the
// sandbox the real endpoints serve on 443 and stock SDKs need no override.
func Env(name string, regions []string, endpoints map[string]string, table string, items int, sourceIP string, endpointOverride bool, own map[string]string) []string {
	env := map[string]string{
		"FAULTLINE_CLIENT":             name,
		"FAULTLINE_REGIONS":            strings.Join(regions, ","),
		"FAULTLINE_TABLE":              table,
		"FAULTLINE_ITEMS":              fmt.Sprint(items),
		"FAULTLINE_SOURCE_IP":          sourceIP,
		"AWS_REGION":                   regions[0],
		"AWS_DEFAULT_REGION":           regions[0],
		"AWS_ACCESS_KEY_ID":            "faultline",
		"AWS_SECRET_ACCESS_KEY":        "faultline",
		"AWS_EC2_METADATA_DISABLED":    "true",
		"AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", // dummy credentials have no account: the regional endpoint
	}
	if endpointOverride {
		// The primary's endpoint for SDKs that take one endpoint from the
		// environment (aws-sdk-go-v2, boto3, the AWS CLI, JS v3).
		env["AWS_ENDPOINT_URL_DYNAMODB"] = endpoints[regions[0]]
	}
	for _, r := range regions {
		env[EndpointVar(r)] = endpoints[r]
	}
	for k, v := range own {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// EndpointVar is the variable that holds a region's endpoint URL:
// FAULTLINE_ENDPOINT_US_EAST_1 for us-east-1.
func EndpointVar(region string) string {
	return "FAULTLINE_ENDPOINT_" + strings.ToUpper(strings.ReplaceAll(region, "-", "_"))
}

// Command goapp is a DynamoDB client application on the stock AWS SDK for Go
// v2, built as a Go team builds one: config.LoadDefaultConfig (region,
// credentials, the CA bundle from AWS_CA_BUNDLE, the retry mode from
// AWS_RETRY_MODE, all from the environment) and dynamodb.NewFromConfig, one
// client per region. It reads one item after another at about 20 per
// second; with FAILOVER=1 it moves to the next region after a failure and
// tries its primary again after BACK_AFTER_S. It knows nothing of faultline
// beyond the environment every application gets (FAULTLINE_REGIONS,
// FAULTLINE_TABLE) and prints one JSON outcome line per request; /health on
// HEALTH_PORT answers 200 while its latest request succeeded.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type outcome struct {
	Time      float64 `json:"time"`
	Operation string  `json:"operation"`
	Region    string  `json:"region"`
	OK        bool    `json:"ok"`
	Error     string  `json:"error"`
	LatencyMS float64 `json:"latency_ms"`
}

func main() {
	regions := strings.Split(os.Getenv("FAULTLINE_REGIONS"), ",")
	table := os.Getenv("FAULTLINE_TABLE")
	items, _ := strconv.Atoi(os.Getenv("FAULTLINE_ITEMS"))
	if items <= 0 {
		items = 100
	}
	failover := os.Getenv("FAILOVER") == "1"
	backAfter := time.Second
	if s, err := strconv.ParseFloat(os.Getenv("BACK_AFTER_S"), 64); err == nil {
		backAfter = time.Duration(s * float64(time.Second))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// Stock retries (the SDK's standard mode unless AWS_RETRY_MODE says
	// otherwise) and short timeouts, as services set them.
	httpClient := awshttp.NewBuildableClient().WithTimeout(time.Second)
	clients := map[string]*dynamodb.Client{}
	for _, r := range regions {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(r), config.WithHTTPClient(httpClient))
		if err != nil {
			fmt.Fprintln(os.Stderr, "loading the AWS config:", err)
			os.Exit(1)
		}
		clients[r] = dynamodb.NewFromConfig(cfg)
	}

	var healthy atomic.Bool
	healthy.Store(true)
	if port := os.Getenv("HEALTH_PORT"); port != "" {
		go http.ListenAndServe("127.0.0.1:"+port, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if healthy.Load() {
				w.WriteHeader(http.StatusOK)
			} else {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
	}

	enc := json.NewEncoder(os.Stdout)
	current, awaySince := 0, time.Time{}
	for i := 0; ctx.Err() == nil; i++ {
		if current != 0 && time.Since(awaySince) >= backAfter {
			current = 0 // try the primary again
		}
		region := regions[current]
		start := time.Now()
		_, err := clients[region].GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("item-%04d", i%items)}}})
		end := time.Now()
		if ctx.Err() != nil {
			return // stopped mid-call: not an outcome
		}
		o := outcome{Time: float64(end.UnixMicro()) / 1e6, Operation: "GetItem", Region: region, OK: err == nil,
			LatencyMS: float64(end.Sub(start).Microseconds()) / 1000}
		if err != nil {
			o.Error = err.Error()
		}
		healthy.Store(o.OK)
		enc.Encode(o)
		if err != nil && failover && len(regions) > 1 {
			current, awaySince = (current+1)%len(regions), time.Now()
		}
		time.Sleep(max(0, 50*time.Millisecond-end.Sub(start)))
	}
}

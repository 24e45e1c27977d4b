// Command faultline-dynamodb-standin is a stand-in for the amazon/dynamodb-local
// image, for machines that cannot pull it (CI here): faultline's embedded
// DynamoDB behind DynamoDB Local's command line. Its image installs it as
// /usr/bin/java, so the entrypoint testcontainers-go's dynamodb module sets
// ("java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar
// [-inMemory] [-sharedDb] [-disableTelemetry] [-port N]") starts it unchanged.
//
// It serves on 0.0.0.0:8000 (or -port), in memory, until SIGTERM or SIGINT.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/faultline-dev/faultline/targets/dynamodb/embedded"
)

func main() {
	port, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamodb stand-in:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := embedded.Run(ctx, embedded.WithAddrs(fmt.Sprintf("0.0.0.0:%d", port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamodb stand-in:", err)
		os.Exit(1)
	}
	// DynamoDB Local prints its settings on start; so does the stand-in, and
	// says what it is.
	fmt.Printf("faultline stand-in for DynamoDB Local (embedded backend)\nPort:\t%d\nInMemory:\ttrue\nSharedDb:\ttrue\n", port)
	<-ctx.Done()
	srv.Terminate(context.Background())
}

// parseArgs accepts DynamoDB Local's flags (and the JVM's, which it ignores)
// and returns the port. Flags the stand-in cannot honour are errors, so a
// test never passes on a setting it silently dropped.
func parseArgs(args []string) (int, error) {
	port := 8000
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "-D"), strings.HasPrefix(a, "-X"):
			// JVM options.
		case a == "-jar":
			i++ // DynamoDBLocal.jar
		case a == "-inMemory", a == "-sharedDb", a == "-disableTelemetry", a == "-delayTransientStatuses", a == "-optimizeDbBeforeStartup":
			// The stand-in is always in memory, one database for every
			// credential and region, with no telemetry and no delays.
		case a == "-port":
			if i+1 == len(args) {
				return 0, fmt.Errorf("-port: expected a port number")
			}
			i++
			p, err := strconv.Atoi(args[i])
			if err != nil || p < 1 || p > 65535 {
				return 0, fmt.Errorf("-port %q: expected a port number from 1 to 65535", args[i])
			}
			port = p
		case a == "-help":
			return 0, fmt.Errorf("usage: java -jar DynamoDBLocal.jar [-inMemory] [-sharedDb] [-disableTelemetry] [-port N]")
		default:
			return 0, fmt.Errorf("unsupported option %q; the stand-in accepts -inMemory, -sharedDb, -disableTelemetry and -port N", a)
		}
	}
	return port, nil
}

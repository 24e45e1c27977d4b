package embedded_test

import "github.com/faultline-dev/faultline/targets/dynamodb/embedded"

func embeddedAddrs() []embedded.Option {
	return []embedded.Option{embedded.WithAddrs("127.0.0.1:0", "127.0.0.2:0")}
}

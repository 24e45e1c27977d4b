package topology

import (
	"net"
	"strings"
)

func cutPort(addr string) (host, port string, err error) { return net.SplitHostPort(addr) }

func trimDot(name string) string { return strings.TrimSuffix(name, ".") }

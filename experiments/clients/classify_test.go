package clients

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/targets/dnsstub"
	"github.com/faultline-dev/faultline/targets/dnsstub/dnsstubtest"
)

// Real errors from real servers, classified.
func TestClassifyRealErrors(t *testing.T) {
	srv := dnsstubtest.Start(t, dnsstub.Zone{Origin: "amazonaws.com."})
	resolver := dnsstubtest.GoResolver(srv.Addr())
	name := "dynamodb.us-east-1.amazonaws.com."
	srv.SetRecords(name, 1, 5, []string{"127.0.0.1"})
	lookup := func(a dnsstub.Action) error {
		remove := dnsstubtest.Rule(t, srv, dnsstub.Rule{Name: name, Action: a})
		defer remove()
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		_, err := resolver.LookupHost(ctx, "dynamodb.us-east-1.amazonaws.com")
		return err
	}
	dial := func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	// A listener that accepts and resets.
	rst, _ := net.Listen("tcp", "127.0.0.1:0")
	defer rst.Close()
	go func() {
		for {
			c, err := rst.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	readAfterReset := func() error {
		c, err := net.Dial("tcp", rst.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		time.Sleep(50 * time.Millisecond)
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		err  error
		want string
	}{
		{lookup(dnsstub.Empty(dnsstub.EmptyOptions{})), ClassDNSNotFound},
		{lookup(dnsstub.NXDomain()), ClassDNSNotFound},
		{lookup(dnsstub.ServFail()), ClassDNSServFail},
		{lookup(dnsstub.Timeout()), ClassDNSTimeout},
		{lookup(dnsstub.Empty(dnsstub.EmptyOptions{NoAA: true})), ClassDNSOther},
		{dial(closedAddr), ClassConnectRefused},
		{readAfterReset(), ClassReset},
		{ctx.Err(), ClassCancelled},
		{context.DeadlineExceeded, ClassTimeout},
		{errors.New("something else"), ClassOther},
	}
	for i, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("case %d: Classify(%v) = %s, want %s", i, c.err, got, c.want)
		}
	}
	if Classify(nil) != "" {
		t.Error("nil error has a class")
	}
}

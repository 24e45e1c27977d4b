package dnsstub

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Many clients at once over the batched UDP socket: every query gets its
// own answer (its ID, its name), whatever batch it was read or sent in; a
// packet that is not DNS gets nothing and does not stop the others.
func TestBatchedUDPAnswersEveryQueryItsOwn(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 50; i++ {
		s.SetRecords(fmt.Sprintf("n%d.amazonaws.com.", i), dns.TypeA, 60, []string{fmt.Sprintf("127.0.3.%d", i+1)})
	}
	junk, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	junk.Write([]byte{1, 2, 3})
	junk.Close()

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Timeout: 5 * time.Second}
			for i := 0; i < 100; i++ {
				n := (w*100 + i) % 50
				r, _, err := c.Exchange(new(dns.Msg).SetQuestion(fmt.Sprintf("n%d.amazonaws.com.", n), dns.TypeA), s.Addr())
				if err != nil {
					errs <- err
					return
				}
				want := fmt.Sprintf("127.0.3.%d", n+1)
				if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
					errs <- fmt.Errorf("n%d: answer %v, want %s", n, r.Answer, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Closing the server while answers are queued ends the sender; nothing
// hangs and nothing is left running.
func TestBatchedUDPClosesWithQueuedAnswers(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", Zones: []Zone{{Origin: "amazonaws.com."}}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := new(dns.Msg).SetQuestion("amazonaws.com.", dns.TypeSOA).Pack()
	for i := 0; i < 500; i++ {
		c.Write(q)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return within 30 s with answers queued")
	}
}

// Command mutex is the bench's Go contender: etcd's own clientv3/concurrency Mutex (imported from
// Debian's golang-etcd-server-dev, not copied), driven like the bench's Node workers.
//
// It opens -n contenders, each with its own clientv3.Client and Session (as separate processes
// would), prints "ready", then obeys stdin lines:
//
//	go <stopAt>   contend until stopAt (ms on CLOCK_MONOTONIC, the bench's shared clock), then
//	              print one JSON report line
//	quit          close every session and client, exit
//
// EOF on stdin (the bench died) is a quit. Modes: "lock" (one name, contended when n > 1),
// "fresh" (a new name every cycle: a lock per job), "keepalive" (-sessions sessions on one client,
// no locking: etcd sees only the sessions' keep-alives).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
)

// now is milliseconds on CLOCK_MONOTONIC, the clock behind Node's process.hrtime: timestamps of
// this process and of the bench's Node processes compare directly.
func now() float64 {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		panic(errno)
	}
	return float64(ts.Sec)*1e3 + float64(ts.Nsec)/1e6
}

type wait struct {
	Who      string   `json:"who"`
	Start    float64  `json:"start"`
	Acquired *float64 `json:"acquired,omitempty"`
	Released *float64 `json:"released,omitempty"`
	Ticket   *int64   `json:"ticket,omitempty"`
}

type report struct {
	Waits      []wait  `json:"waits"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	CPUMs      float64 `json:"cpuMs"`
}

type contender struct {
	who     string
	client  *clientv3.Client
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

const maxErrors = 20

var (
	endpoints = flag.String("endpoints", "127.0.0.1:2379", "comma-separated etcd endpoints")
	name      = flag.String("name", "bench/go/lock", "the lock's name (prefix)")
	n         = flag.Int("n", 1, "contenders, a client and a session each")
	who       = flag.String("who", "g", "contender label prefix")
	ttl       = flag.Int("ttl", 10, "session TTL, seconds")
	mode      = flag.String("mode", "lock", "lock | fresh | keepalive")
	cs        = flag.String("cs", "mem", "critical section: mem | txn (a put guarded by IsOwner)")
	dataKey   = flag.String("data", "bench/go/data", "the key the txn critical section writes")
	sessions  = flag.Int("sessions", 1000, "keepalive mode: sessions on the one client")
)

func newClient() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*endpoints, ","),
		DialTimeout: 10 * time.Second,
	})
}

func cpuMs() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	ms := func(t syscall.Timeval) float64 { return float64(t.Sec)*1e3 + float64(t.Usec)/1e3 }
	return ms(ru.Utime) + ms(ru.Stime)
}

var counter struct {
	sync.Mutex
	value int
}

func bump() int {
	counter.Lock()
	defer counter.Unlock()
	counter.value++
	return counter.value
}

// ticket is the held key's create revision, read from the IsOwner comparison (no extra RPC).
func ticket(m *concurrency.Mutex) *int64 {
	if u, ok := m.IsOwner().TargetUnion.(*pb.Compare_CreateRevision); ok {
		rev := u.CreateRevision
		return &rev
	}
	return nil
}

// contend locks, runs the critical section and unlocks until stopAt; one wait per attempt.
func (c *contender) contend(stopAt float64, cycle *int) report {
	r := report{Waits: []wait{}}
	fail := func(err error) {
		r.Errors++
		if r.FirstError == "" {
			r.FirstError = err.Error()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration((stopAt-now())*float64(time.Millisecond)))
	defer cancel()
	for ctx.Err() == nil && r.Errors < maxErrors {
		m := c.mutex
		if *mode == "fresh" {
			*cycle++
			m = concurrency.NewMutex(c.session, fmt.Sprintf("%s/%s-%d", *name, c.who, *cycle))
		}
		w := wait{Who: c.who, Start: now()}
		if err := m.Lock(ctx); err != nil {
			// Time is up: etcd may answer a request cut off by the deadline with its own
			// "request timed out" before this side's context reports it.
			if ctx.Err() != nil || now() >= stopAt {
				r.Waits = append(r.Waits, w)
				break
			}
			fail(err)
			continue
		}
		acquired := now()
		w.Acquired = &acquired
		w.Ticket = ticket(m)
		if *cs == "txn" {
			put := clientv3.OpPut(*dataKey, strconv.Itoa(bump()))
			resp, err := c.client.Txn(context.Background()).If(m.IsOwner()).Then(put).Commit()
			if err != nil {
				fail(err)
			} else if !resp.Succeeded {
				fail(fmt.Errorf("the guarded write did not commit while holding"))
			}
		} else {
			bump()
		}
		released := now()
		w.Released = &released
		if err := m.Unlock(context.Background()); err != nil {
			fail(err)
		}
		r.Waits = append(r.Waits, w)
	}
	return r
}

func main() {
	flag.Parse()
	out := bufio.NewWriter(os.Stdout)
	emit := func(v interface{}) {
		b, _ := json.Marshal(v)
		out.Write(b)
		out.WriteByte('\n')
		out.Flush()
	}
	die := func(err error) {
		fmt.Fprintf(os.Stderr, "go contender: %v\n", err)
		os.Exit(1)
	}

	var contenders []*contender
	var shared *clientv3.Client
	var idle []*concurrency.Session
	closeAll := func() {
		for _, s := range idle {
			s.Close()
		}
		if shared != nil {
			shared.Close()
		}
		for _, c := range contenders {
			c.session.Close()
			c.client.Close()
		}
	}

	if *mode == "keepalive" {
		var err error
		if shared, err = newClient(); err != nil {
			die(err)
		}
		for i := 0; i < *sessions; i++ {
			s, err := concurrency.NewSession(shared, concurrency.WithTTL(*ttl))
			if err != nil {
				closeAll()
				die(err)
			}
			idle = append(idle, s)
		}
	} else {
		for i := 0; i < *n; i++ {
			client, err := newClient()
			if err != nil {
				closeAll()
				die(err)
			}
			s, err := concurrency.NewSession(client, concurrency.WithTTL(*ttl))
			if err != nil {
				client.Close()
				closeAll()
				die(err)
			}
			label := fmt.Sprintf("%s%d", *who, i)
			contenders = append(contenders, &contender{label, client, s, concurrency.NewMutex(s, *name)})
		}
	}
	fmt.Fprintln(out, "ready")
	out.Flush()

	cycles := make([]int, len(contenders))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "go":
			stopAt, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				die(err)
			}
			cpu := cpuMs()
			total := report{Waits: []wait{}}
			if *mode == "keepalive" {
				time.Sleep(time.Duration((stopAt - now()) * float64(time.Millisecond)))
			} else {
				reports := make([]report, len(contenders))
				var wg sync.WaitGroup
				for i, c := range contenders {
					wg.Add(1)
					go func(i int, c *contender) {
						defer wg.Done()
						reports[i] = c.contend(stopAt, &cycles[i])
					}(i, c)
				}
				wg.Wait()
				for _, r := range reports {
					total.Waits = append(total.Waits, r.Waits...)
					total.Errors += r.Errors
					if total.FirstError == "" {
						total.FirstError = r.FirstError
					}
				}
			}
			total.CPUMs = cpuMs() - cpu
			emit(total)
		case "quit":
			closeAll()
			return
		}
	}
	closeAll()
}

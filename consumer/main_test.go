package consumer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringwire/ringwire/consumer"
	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/testseg"
	"github.com/ringwire/ringwire/producer"
	"github.com/ringwire/ringwire/segment"
)

// TestMain doubles as the child process of the multi-process tests: with RW_CHILD set, the test
// binary runs that role instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("RW_CHILD") {
	case "consume":
		os.Exit(childConsume())
	case "claim-and-hang":
		os.Exit(childClaimAndHang())
	case "mp-produce":
		os.Exit(childMultiProduce())
	case "stage":
		os.Exit(childStage())
	case "idle-blocking":
		os.Exit(childIdleBlocking())
	case "resume-consume":
		os.Exit(childResumeConsume())
	case "mp-forever":
		os.Exit(childProduceForever())
	case "produce-and-hang":
		os.Exit(childProduceAndHang())
	case "restarting-producer":
		os.Exit(childRestartingProducer())
	case "":
		code := testseg.Main(m)
		if left, _ := filepath.Glob("/dev/shm" + shmPrefix() + "*"); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: tests left shared-memory segments behind: %s\n", strings.Join(left, " "))
			for _, f := range left {
				os.Remove(f)
			}
			code = max(code, 1)
		}
		os.Exit(code)
	default:
		fmt.Fprintln(os.Stderr, "unknown RW_CHILD role", os.Getenv("RW_CHILD"))
		os.Exit(2)
	}
}

var shmCount atomic.Uint64

func shmPrefix() string { return fmt.Sprintf("/rwimpl-%d-", os.Getpid()) }

// shmName returns a fresh segment name of this process and removes the segment when t ends,
// pass or fail (a child killed with SIGKILL leaves its segments to us).
func shmName(t testing.TB) string {
	name := fmt.Sprintf("%s%d", shmPrefix(), shmCount.Add(1))
	t.Cleanup(func() { os.Remove("/dev/shm" + name) })
	return name
}

// event is 64 bytes: a sequence, a value derived from it, and a payload the checker recomputes.
type event struct {
	Seq     uint64
	Square  uint64
	Payload [48]byte
}

func fill(seq uint64, e *event) {
	e.Seq = seq
	e.Square = seq * seq
	for i := range e.Payload {
		e.Payload[i] = byte(seq) + byte(i)
	}
}

func check(seq uint64, e *event) error {
	if e.Seq != seq || e.Square != seq*seq {
		return fmt.Errorf("event %d holds seq %d", seq, e.Seq)
	}
	for i := range e.Payload {
		if e.Payload[i] != byte(seq)+byte(i) {
			return fmt.Errorf("event %d: payload byte %d corrupt", seq, i)
		}
	}
	return nil
}

// childConsume attaches to RW_NAME as RW_CONSUMER, reads RW_COUNT events in batches checking
// each, and prints "ok N" or the first problem. Exit 0 only if every event arrived in order.
func childConsume() int {
	name, cname := os.Getenv("RW_NAME"), os.Getenv("RW_CONSUMER")
	count, _ := strconv.ParseUint(os.Getenv("RW_COUNT"), 10, 64)
	c, err := consumer.Attach[event](segment.SharedMemory(name), consumer.Options{
		Name: cname, Start: consumer.StartOldest, Wait: coordination.Yield(),
		AttachTimeout: 10 * time.Second, ReadTimeout: 20 * time.Second,
	})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	defer c.Close()
	var want uint64
	err = c.Run(func(e *event, seq uint64, _ bool) error {
		if seq != want {
			return fmt.Errorf("got sequence %d, want %d", seq, want)
		}
		want++
		return check(seq, e)
	})
	if err != nil {
		fmt.Println("run:", err)
		return 1
	}
	if want != count {
		fmt.Printf("received %d of %d\n", want, count)
		return 1
	}
	fmt.Println("ok", want)
	return 0
}

// childClaimAndHang joins the multi-producer ring RW_NAME, publishes one event, claims RW_COUNT
// more without publishing them, says "claimed", and hangs until it is killed: a producer that
// dies between claim and publish.
func childClaimAndHang() int {
	count, _ := strconv.Atoi(os.Getenv("RW_COUNT"))
	p, err := producer.Attach[event](segment.SharedMemory(os.Getenv("RW_NAME")), 5*time.Second, producer.Options{})
	if err == nil {
		err = p.Publish(func(e *event) { fill(0, e) })
	}
	if err != nil {
		fmt.Println("child:", err)
		return 1
	}
	if _, err := p.Claim(count); err != nil {
		fmt.Println("claim:", err)
		return 1
	}
	fmt.Println("claimed")
	time.Sleep(time.Minute)
	return 0
}

package consumer_test

import (
	"fmt"
	"os"
	"strconv"
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
		os.Exit(testseg.Main(m))
	default:
		fmt.Fprintln(os.Stderr, "unknown RW_CHILD role", os.Getenv("RW_CHILD"))
		os.Exit(2)
	}
}

// shmName is testseg.Name: a fresh segment name removed when t ends, pass or fail (a child
// killed with SIGKILL leaves its segments to us).
var shmName = testseg.Name

// event is the 64-byte test event (testseg.Event); fill writes it and check verifies it.
type event = testseg.Event

var (
	fill  = testseg.Fill
	check = testseg.Check
)

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

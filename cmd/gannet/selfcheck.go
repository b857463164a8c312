package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine"
	"github.com/gannetmq/gannet/engine/message"
)

// runSelfCheck opens the engine on a data directory, appends messages from
// concurrent writers, reads every one back through the ConsumeQueue and the
// Index, restarts the store and reads them again, and prints what it
// measured. Exit status 0 when everything checked, 1 otherwise, 2 for bad
// flags.
func runSelfCheck(args []string) int {
	fs := flag.NewFlagSet("selfcheck", flag.ContinueOnError)
	dir := fs.String("data", "./data", "store directory (storePathRootDir)")
	flush := fs.String("flush", "sync", "flush mode: sync or async")
	count := fs.Int("messages", 20000, "messages to append")
	size := fs.Int("size", 1024, "message body size in bytes")
	writers := fs.Int("writers", 64, "concurrent writers")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	mode, ok := parseFlush(*flush)
	if !ok {
		fmt.Fprintf(os.Stderr, "selfcheck: --flush %q: want sync or async\n", *flush)
		return 2
	}
	if *count < 1 || *size < 0 || *size > 4<<20 || *writers < 1 {
		fmt.Fprintln(os.Stderr, "selfcheck: --messages and --writers must be positive, --size within 0..4194304")
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := engine.Options{Dir: *dir, FlushMode: mode, Logger: logger}
	if err := check(opts, *count, *size, *writers); err != nil {
		fmt.Fprintln(os.Stderr, "selfcheck: FAILED:", err)
		return 1
	}
	fmt.Println("selfcheck: OK")
	return 0
}

const selfCheckTopic = "GANNET_SELFCHECK"

func check(opts engine.Options, count, size, writers int) error {
	t0 := time.Now()
	s, err := engine.Open(opts)
	if err != nil {
		return err
	}
	openTime := time.Since(t0)
	fmt.Printf("store %s opened in %v (%s), log %d..%d\n", opts.Dir, openTime.Round(time.Microsecond), opts.FlushMode, s.MinPhysicalOffset(), s.MaxPhysicalOffset())
	fmt.Printf("resident memory after open: %s\n", memory())

	// Each run appends after what earlier runs left; remember where.
	startOffset := s.MaxOffset(selfCheckTopic, 0)
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	body := bytes.Repeat([]byte{'g'}, size)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	next := make(chan int, count)
	for i := 0; i < count; i++ {
		next <- i
	}
	close(next)
	t1 := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &engine.Request{Msgs: make([]message.Message, 1)}
			var props []byte
			for i := range next {
				props = message.AppendProperty(props[:0], message.PropertyKeys, fmt.Sprintf("%s-%d", runID, i))
				r.Msgs[0] = message.Message{Topic: selfCheckTopic, Body: body, Properties: props, BornTimestamp: time.Now().UnixMilli()}
				if st := s.Append(r); st != engine.StatusOK {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("append %d: %s %v", i, st, r.Err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t1)
	if len(failures) > 0 {
		s.Close()
		return fmt.Errorf("%d appends failed, first: %s", len(failures), failures[0])
	}
	m := s.CommitLog().Metrics()
	fmt.Printf("appended %d x %d B from %d writers in %v: %.0f msg/s, %.1f MB/s; %.1f requests per sync\n",
		count, size, writers, took.Round(time.Millisecond), float64(count)/took.Seconds(),
		float64(count*size)/took.Seconds()/1e6, ratio(m.SyncedGroups, m.Syncs))
	fmt.Printf("resident memory after appends: %s\n", memory())

	if err := readBack(s, startOffset, count, size, runID); err != nil {
		s.Close()
		return err
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	t2 := time.Now()
	s, err = engine.Open(opts)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	fmt.Printf("reopened in %v\n", time.Since(t2).Round(time.Microsecond))
	defer s.Close()
	return readBack(s, startOffset, count, size, runID)
}

// readBack reads the run's messages through the ConsumeQueue and looks a few
// up by key.
func readBack(s *engine.Store, from int64, count, size int, runID string) error {
	deadline := time.Now().Add(10 * time.Second)
	for s.MaxOffset(selfCheckTopic, 0) < from+int64(count) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d messages became visible", s.MaxOffset(selfCheckTopic, 0)-from, count)
		}
		time.Sleep(time.Millisecond)
	}
	var res engine.GetResult
	defer res.Release()
	req := engine.GetRequest{Topic: selfCheckTopic, Offset: from, MaxMessages: 32}
	seen := 0
	t0 := time.Now()
	for seen < count {
		s.GetMessages(&req, &res)
		if res.Status != engine.GetFound {
			return fmt.Errorf("read at queue offset %d: %s", req.Offset, res.Status)
		}
		for _, b := range res.Messages {
			rec, err := message.Parse(b, true)
			if err != nil {
				return fmt.Errorf("stored message at queue offset %d: %w", req.Offset, err)
			}
			if len(rec.Body()) != size {
				return fmt.Errorf("message at queue offset %d has a %d-byte body", req.Offset, len(rec.Body()))
			}
			seen++
		}
		req.Offset = res.NextOffset
		res.Release()
	}
	took := time.Since(t0)
	for _, i := range []int{0, count / 2, count - 1} {
		key := fmt.Sprintf("%s-%d", runID, i)
		found := s.QueryByKey(selfCheckTopic, key, 4, 0, 0)
		if len(found) != 1 {
			return errors.New("key " + key + " not found in the index")
		}
		found[0].Release()
	}
	fmt.Printf("read back %d messages in %v and found keys by index\n", seen, took.Round(time.Microsecond))
	return nil
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// memory reports the process's resident memory, anonymous (heap, stacks)
// apart from file-backed (mapped segments, page cache).
func memory() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			vals[k] = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("RSS %s (anonymous %s, file-backed %s)", vals["VmRSS"], vals["RssAnon"], vals["RssFile"])
}

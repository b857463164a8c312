package goclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// This file is the driver: the code that runs in a child process (this
// test binary started again with specEnv set) and uses the Go client as
// an application would. It reads its job from specEnv, writes what
// happened to stdout as eventPrefix + JSON lines, and exits.

const (
	specEnv     = "GANNET_GOCLIENT_SPEC"
	eventPrefix = "GCEVENT "
)

// msgSpec is one message a producer child sends.
type msgSpec struct {
	Body  string   `json:"body"`
	Tag   string   `json:"tag,omitempty"`
	Keys  []string `json:"keys,omitempty"`
	Delay int      `json:"delay,omitempty"` // delay level, 0 for none
}

// spec is a child's job.
type spec struct {
	Role       string        `json:"role"` // "produce" or "consume"
	NameServer string        `json:"nameServer"`
	Group      string        `json:"group"`
	Topic      string        `json:"topic"`
	Limit      time.Duration `json:"limit"` // the child gives up after this

	// produce
	Mode     string    `json:"mode,omitempty"` // "sync", "async" or "batch"
	Messages []msgSpec `json:"messages,omitempty"`

	// consume
	Sub string `json:"sub,omitempty"` // tag expression
	// RefuseSuffix: a message whose body ends with it is answered
	// ConsumeRetryLater the first time it is delivered.
	RefuseSuffix string `json:"refuseSuffix,omitempty"`
}

// event is one line of a child's output.
type event struct {
	Kind string `json:"kind"` // started, sent, received, stopped, fatal
	At   int64  `json:"at"`   // wall clock, Unix nanoseconds
	Err  string `json:"err,omitempty"`

	// sent: the message's index in the spec (the first one for a batch),
	// and the result.
	Index       int    `json:"index"`
	Count       int    `json:"count,omitempty"`
	Status      int    `json:"status"`
	MsgID       string `json:"msgId,omitempty"`
	OffsetMsgID string `json:"offsetMsgId,omitempty"`
	Queue       int    `json:"queue"`
	QueueOffset int64  `json:"queueOffset"`
	ResTopic    string `json:"resTopic,omitempty"`

	// received
	Topic     string `json:"topic,omitempty"`
	Body      string `json:"body,omitempty"`
	Tags      string `json:"tags,omitempty"`
	Keys      string `json:"keys,omitempty"`
	Reconsume int32  `json:"reconsume"`
}

func (e event) time() time.Time { return time.Unix(0, e.At) }

// emitter writes events to stdout, one line each.
type emitter struct {
	mu sync.Mutex
	w  io.Writer
}

func (em *emitter) emit(e event) {
	if e.At == 0 {
		e.At = time.Now().UnixNano()
	}
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	fmt.Fprintf(em.w, "%s%s\n", eventPrefix, b)
}

// driverMain runs the job in specEnv and returns the exit code.
func driverMain() int {
	rlog.SetLogLevel("error")
	em := &emitter{w: os.Stdout}
	var s spec
	if err := json.Unmarshal([]byte(os.Getenv(specEnv)), &s); err != nil {
		em.emit(event{Kind: "fatal", Err: "bad spec: " + err.Error()})
		return 2
	}
	var err error
	switch s.Role {
	case "produce":
		err = produce(s, em)
	case "consume":
		err = consume(s, em)
	default:
		err = fmt.Errorf("unknown role %q", s.Role)
	}
	if err != nil {
		em.emit(event{Kind: "fatal", Err: err.Error()})
		return 1
	}
	em.emit(event{Kind: "stopped"})
	return 0
}

func (m msgSpec) message(topic string) *primitive.Message {
	msg := primitive.NewMessage(topic, []byte(m.Body))
	if m.Tag != "" {
		msg.WithTag(m.Tag)
	}
	if len(m.Keys) > 0 {
		msg.WithKeys(m.Keys)
	}
	if m.Delay > 0 {
		msg.WithDelayTimeLevel(m.Delay)
	}
	return msg
}

func sentEvent(i int, at time.Time, res *primitive.SendResult, err error) event {
	e := event{Kind: "sent", Index: i, Count: 1, At: at.UnixNano()}
	switch {
	case err != nil:
		e.Err = err.Error()
	case res == nil:
		e.Err = "nil result and no error"
	default:
		e.Status, e.MsgID, e.OffsetMsgID, e.QueueOffset = int(res.Status), res.MsgID, res.OffsetMsgID, res.QueueOffset
		e.Queue = -1
		if res.MessageQueue != nil {
			e.Queue, e.ResTopic = res.MessageQueue.QueueId, res.MessageQueue.Topic
		}
	}
	return e
}

// produce starts a producer, sends the spec's messages and shuts down.
func produce(s spec, em *emitter) error {
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.NameServer})),
		producer.WithRetry(2),
		producer.WithGroupName(s.Group),
		producer.WithSendMsgTimeout(5*time.Second),
	)
	if err != nil {
		return fmt.Errorf("NewProducer: %w", err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("producer Start: %w", err)
	}
	em.emit(event{Kind: "started"})
	ctx, cancel := context.WithTimeout(context.Background(), s.Limit)
	defer cancel()
	switch s.Mode {
	case "sync":
		for i, m := range s.Messages {
			at := time.Now()
			res, err := p.SendSync(ctx, m.message(s.Topic))
			em.emit(sentEvent(i, at, res, err))
		}
	case "async":
		var wg sync.WaitGroup
		for i, m := range s.Messages {
			at := time.Now()
			wg.Add(1)
			err := p.SendAsync(ctx, func(_ context.Context, res *primitive.SendResult, err error) {
				defer wg.Done()
				em.emit(sentEvent(i, at, res, err))
			}, m.message(s.Topic))
			if err != nil {
				wg.Done()
				em.emit(sentEvent(i, at, nil, err))
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("async send callbacks not all called within %v", s.Limit)
		}
	case "batch":
		msgs := make([]*primitive.Message, len(s.Messages))
		for i, m := range s.Messages {
			msgs[i] = m.message(s.Topic)
		}
		at := time.Now()
		res, err := p.SendSync(ctx, msgs...)
		e := sentEvent(0, at, res, err)
		e.Count = len(msgs)
		em.emit(e)
	default:
		return fmt.Errorf("unknown mode %q", s.Mode)
	}
	if err := p.Shutdown(); err != nil {
		return fmt.Errorf("producer Shutdown: %w", err)
	}
	return nil
}

// consume starts a clustering push consumer reading from the first
// offset, reports every delivery, and shuts down when stdin closes.
func consume(s spec, em *emitter) error {
	pc, err := rocketmq.NewPushConsumer(
		consumer.WithGroupName(s.Group),
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.NameServer})),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithConsumerModel(consumer.Clustering),
	)
	if err != nil {
		return fmt.Errorf("NewPushConsumer: %w", err)
	}
	var mu sync.Mutex
	refused := make(map[string]bool)
	h := func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		result := consumer.ConsumeSuccess
		for _, m := range msgs {
			e := event{
				Kind: "received", Topic: m.Topic, Body: string(m.Body), Tags: m.GetTags(), Keys: m.GetKeys(),
				MsgID: m.MsgId, QueueOffset: m.QueueOffset, Reconsume: m.ReconsumeTimes, Queue: -1,
			}
			if m.Queue != nil {
				e.Queue = m.Queue.QueueId
			}
			em.emit(e)
			if s.RefuseSuffix != "" && strings.HasSuffix(e.Body, s.RefuseSuffix) {
				mu.Lock()
				if !refused[e.Body] {
					refused[e.Body] = true
					result = consumer.ConsumeRetryLater
				}
				mu.Unlock()
			}
		}
		return result, nil
	}
	if err := pc.Subscribe(s.Topic, consumer.MessageSelector{Type: consumer.TAG, Expression: s.Sub}, h); err != nil {
		return fmt.Errorf("Subscribe %s %q: %w", s.Topic, s.Sub, err)
	}
	if err := pc.Start(); err != nil {
		return fmt.Errorf("consumer Start: %w", err)
	}
	em.emit(event{Kind: "started"})
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	var limitErr error
	select {
	case <-stdinClosed:
	case <-time.After(s.Limit):
		limitErr = fmt.Errorf("not told to stop within %v", s.Limit)
	}
	if err := pc.Shutdown(); err != nil {
		return fmt.Errorf("consumer Shutdown: %w", err)
	}
	return limitErr
}

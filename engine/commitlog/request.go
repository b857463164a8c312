package commitlog

import (
	"sync/atomic"

	"github.com/gannetmq/gannet/engine/message"
)

// Status is the outcome of an append. Each maps onto a RocketMQ response
// code in the front end.
type Status int32

const (
	StatusOK                  Status = iota
	StatusFlushDiskTimeout           // FLUSH_DISK_TIMEOUT: written, not known durable in time
	StatusSystemBusy                 // SYSTEM_BUSY: the append queue stayed full
	StatusDiskFull                   // the disk passed the hard limit; nothing was written
	StatusMessageIllegal             // too large, bad topic, empty request
	StatusServiceNotAvailable        // closed, or an earlier write or sync failed
	StatusOffsetMismatch             // raw append not at the end of the log
)

var statusNames = [...]string{"OK", "FLUSH_DISK_TIMEOUT", "SYSTEM_BUSY", "DISK_FULL", "MESSAGE_ILLEGAL", "SERVICE_NOT_AVAILABLE", "OFFSET_MISMATCH"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "UNKNOWN"
}

// Request is one append: one or more messages stored contiguously, or raw
// bytes at a given offset. A Request is reusable once it has completed; keep
// them in a pool to append without allocating.
type Request struct {
	// Msgs are encoded in order; each gets the next queue offset of its own
	// topic-queue. They are only read until the request completes.
	Msgs []message.Message

	// Done, if set, is called once when the request completes, on a log
	// goroutine: it must not block. Without Done, use Log.Append, which
	// waits.
	Done func(*Request)

	// Results, valid after completion.
	Status         Status
	Err            error // detail for a failed status
	PhysicalOffset int64 // offset of the first message (or of the raw bytes)
	QueueOffset    int64 // queue offset of the first message
	Size           int   // bytes stored
	StoreTimestamp int64 // ms, shared by the whole group

	// Raw append: bytes already encoded, to be stored at rawOffset.
	raw       []byte
	rawOffset int64
	isRaw     bool

	size  int // total encoded size, computed at submission
	end   int64
	gen   atomic.Uint64 // odd while in flight; completion flips it even once
	done  chan struct{}
	sizes []int32 // per-message encoded size, computed at submission
}

// SetRaw turns the request into a raw append of data at offset (used by
// slaves storing their master's bytes).
func (r *Request) SetRaw(offset int64, data []byte) {
	r.Msgs = r.Msgs[:0]
	r.raw, r.rawOffset, r.isRaw = data, offset, true
}

// End is the offset just past the request's bytes.
func (r *Request) End() int64 { return r.end }

// MessageOffsets appends the physical offset of each message of a completed
// request (for message ids of a batch).
func (r *Request) MessageOffsets(dst []int64) []int64 {
	off := r.PhysicalOffset
	for _, n := range r.sizes {
		dst = append(dst, off)
		off += int64(n)
	}
	return dst
}

// begin marks the request in flight and returns its generation.
func (r *Request) begin() uint64 {
	if r.done == nil {
		r.done = make(chan struct{}, 1)
	}
	r.Status, r.Err = StatusOK, nil
	return r.gen.Add(1)
}

// complete finishes generation gen of the request with status. Only the
// first completion of a generation counts: the sync timeout and the flusher
// may race to complete the same request.
func (r *Request) complete(gen uint64, st Status, err error) bool {
	if !r.gen.CompareAndSwap(gen, gen+1) {
		return false
	}
	r.Status, r.Err = st, err
	if r.Done != nil {
		r.Done(r)
	} else {
		r.done <- struct{}{}
	}
	return true
}

type pendingReq struct {
	req *Request
	gen uint64
}

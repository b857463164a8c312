package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gannetmq/gannet/protocols/remoting"
)

// A slave copies its master's metadata (SlaveSynchronize): topic configs,
// consumer offsets, delay offsets and subscription groups, every
// SlaveSyncInterval. The CommitLog comes over the HA stream; these tables
// do not, and without them a slave that takes over reads would not know
// the topics' queues or where each group stands.

// SlaveSyncInterval is how often a slave copies its master's metadata
// (RocketMQ: every 10 s).
const SlaveSyncInterval = 10 * time.Second

// SyncFromMaster copies the four tables from the master at addr, each
// within timeout. Consumer offsets are merged, the master's winning: a
// group that committed only on this slave (while reading from it) keeps
// its offsets. The other tables are replaced.
func (b *Broker) SyncFromMaster(ctx context.Context, client NamesrvClient, addr string, timeout time.Duration) error {
	fetch := func(code int32) ([]byte, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req := &remoting.Command{Code: code, Language: "JAVA", Version: serverVersion, Opaque: b.nextOpaque(), ExtFields: map[string]string{}}
		resp, err := client.Invoke(cctx, addr, req)
		if err != nil {
			return nil, fmt.Errorf("%s from %s: %w", remoting.CodeName(code), addr, err)
		}
		defer func() {
			if resp.Release != nil {
				resp.Release()
			}
		}()
		if resp.Code != remoting.ResSuccess {
			return nil, fmt.Errorf("%s from %s: %s %s", remoting.CodeName(code), addr, remoting.ResponseCodeName(resp.Code), resp.Remark)
		}
		return append([]byte(nil), resp.Body...), nil
	}
	var errs []error
	if data, err := fetch(remoting.ReqGetAllTopicConfig); err != nil {
		errs = append(errs, err)
	} else if err := b.meta.Topics.Decode(data); err != nil {
		errs = append(errs, err)
	}
	if data, err := fetch(remoting.ReqGetAllConsumerOffset); err != nil {
		errs = append(errs, err)
	} else {
		local := b.meta.Offsets.All()
		if err := b.meta.Offsets.Decode(data); err != nil {
			errs = append(errs, err)
		} else {
			merged := b.meta.Offsets.All()
			added := false
			for key, queues := range local {
				m := merged[key]
				if m == nil {
					m = map[int32]int64{}
					merged[key] = m
				}
				for q, off := range queues {
					if _, ok := m[q]; !ok {
						m[q] = off
						added = true
					}
				}
			}
			if added {
				b.meta.Offsets.ReplaceAll(merged)
			}
		}
	}
	if data, err := fetch(remoting.ReqGetAllDelayOffset); err != nil {
		errs = append(errs, err)
	} else if err := b.meta.Delay.Decode(data); err != nil {
		errs = append(errs, err)
	}
	if data, err := fetch(remoting.ReqGetAllSubscriptiongroupConfig); err != nil {
		errs = append(errs, err)
	} else if err := b.meta.Groups.Decode(data); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// SlaveSyncLoop runs SyncFromMaster on a slave until stop is closed: as
// soon as master gives an address ("" means not known yet), again when the
// address changes, and every interval otherwise. A failed round is logged
// when the outcome changes, not every time.
func (b *Broker) SlaveSyncLoop(stop <-chan struct{}, client NamesrvClient, master func() string, interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	failing := false
	var synced string // address of the last round
	var last time.Time
	poll := time.NewTicker(min(interval, 200*time.Millisecond))
	defer poll.Stop()
	for {
		if addr := master(); addr != "" && (addr != synced || time.Since(last) >= interval) {
			err := b.SyncFromMaster(ctx, client, addr, 3*time.Second)
			synced, last = addr, time.Now()
			switch {
			case ctx.Err() != nil:
			case err != nil && !failing:
				b.log.Warn("cannot copy metadata from the master; serving what this slave has", "master", addr, "err", err)
				failing = true
			case err == nil && failing:
				b.log.Info("copying metadata from the master again", "master", addr)
				failing = false
			}
		}
		select {
		case <-stop:
			return
		case <-poll.C:
		}
	}
}

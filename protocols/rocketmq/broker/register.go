package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"
	"time"

	"github.com/gannetmq/gannet/engine/meta"
	"github.com/gannetmq/gannet/protocols/remoting"
)

// Registration with the name servers (BrokerController.registerBrokerAll,
// BrokerOuterAPI.registerBrokerAll): REGISTER_BROKER (103) to every name
// server at start, every registerNameServerPeriod and whenever the topic
// table changed; UNREGISTER_BROKER (104) at shutdown.

// NamesrvClient sends a request to a name server and waits for its
// response; the remoting client satisfies it.
type NamesrvClient interface {
	Invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error)
}

// registerBody is RegisterBrokerBody (protocol reference §6.3).
type registerBody struct {
	FilterServerList            []string       `json:"filterServerList"`
	TopicConfigSerializeWrapper registerTopics `json:"topicConfigSerializeWrapper"`
}

type registerTopics struct {
	DataVersion                meta.DataVersion            `json:"dataVersion"`
	MappingDataVersion         meta.DataVersion            `json:"mappingDataVersion"`
	TopicConfigTable           map[string]meta.TopicConfig `json:"topicConfigTable"`
	TopicQueueMappingDetailMap struct{}                    `json:"topicQueueMappingDetailMap"`
	TopicQueueMappingInfoMap   struct{}                    `json:"topicQueueMappingInfoMap"`
}

// registerRequest builds REGISTER_BROKER with the whole topic table.
func (b *Broker) registerRequest() (*remoting.Command, error) {
	dv := b.meta.Topics.DataVersion()
	body := registerBody{
		FilterServerList: []string{},
		TopicConfigSerializeWrapper: registerTopics{
			DataVersion:        dv,
			MappingDataVersion: meta.DataVersion{Timestamp: dv.Timestamp},
			TopicConfigTable:   map[string]meta.TopicConfig{},
		},
	}
	for _, c := range b.registeredTopicConfigs() {
		if c.Attributes == nil {
			c.Attributes = map[string]string{}
		}
		body.TopicConfigSerializeWrapper.TopicConfigTable[c.TopicName] = c
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("broker: cannot encode RegisterBrokerBody: %w", err)
	}
	return &remoting.Command{
		Code:     remoting.ReqRegisterBroker,
		Language: "JAVA",
		Version:  serverVersion,
		Opaque:   b.nextOpaque(),
		ExtFields: map[string]string{
			"brokerName":         b.opts.BrokerName,
			"brokerAddr":         b.brokerAddr,
			"clusterName":        b.opts.ClusterName,
			"haServerAddr":       b.opts.HAServerAddr,
			"brokerId":           itoa(b.opts.BrokerID),
			"enableActingMaster": "false",
			"compressed":         "false",
			"bodyCrc32":          strconv.Itoa(int(int32(crc32.ChecksumIEEE(data) & 0x7FFFFFFF))),
		},
		Body: data,
	}, nil
}

func (b *Broker) identityRequest(code int32) *remoting.Command {
	return &remoting.Command{
		Code:     code,
		Language: "JAVA",
		Version:  serverVersion,
		Opaque:   b.nextOpaque(),
		ExtFields: map[string]string{
			"brokerName":  b.opts.BrokerName,
			"brokerAddr":  b.brokerAddr,
			"clusterName": b.opts.ClusterName,
			"brokerId":    itoa(b.opts.BrokerID),
		},
	}
}

// RegisterOnce registers the broker with every configured name server, in
// parallel, each within RegisterTimeout, and returns the errors joined.
func (b *Broker) RegisterOnce(ctx context.Context, client NamesrvClient) error {
	return b.toAll(ctx, client, func() (*remoting.Command, error) { return b.registerRequest() }, b.learnMaster)
}

// learnMaster keeps what a name server answers a slave's registration: its
// master's client and HA addresses (RegisterBrokerResult). A slave without
// haMasterAddress replicates from that HA address, and copies metadata
// from that client address.
func (b *Broker) learnMaster(resp *remoting.Command) {
	if !b.isSlave() || resp.Code != remoting.ResSuccess {
		return
	}
	if a := resp.ExtFields["masterAddr"]; a != "" {
		b.masterAddr.Store(&a)
	}
	if a := resp.ExtFields["haServerAddr"]; a != "" {
		b.masterHAAddr.Store(&a)
	}
}

// MasterAddr is the master's client address a slave last learned from a
// name server, "" if none.
func (b *Broker) MasterAddr() string {
	if p := b.masterAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// MasterHAAddr is the master's HA address a slave last learned from a name
// server, "" if none.
func (b *Broker) MasterHAAddr() string {
	if p := b.masterHAAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// UnregisterOnce sends UNREGISTER_BROKER to every configured name server.
func (b *Broker) UnregisterOnce(ctx context.Context, client NamesrvClient) error {
	return b.toAll(ctx, client, func() (*remoting.Command, error) {
		return b.identityRequest(remoting.ReqUnregisterBroker), nil
	}, nil)
}

func (b *Broker) toAll(ctx context.Context, client NamesrvClient, build func() (*remoting.Command, error), onResp func(*remoting.Command)) error {
	if len(b.opts.NamesrvAddr) == 0 {
		return nil
	}
	errs := make([]error, len(b.opts.NamesrvAddr))
	var wg sync.WaitGroup
	for i, addr := range b.opts.NamesrvAddr {
		req, err := build()
		if err != nil {
			return err
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, b.opts.RegisterTimeout)
			defer cancel()
			resp, err := client.Invoke(cctx, addr, req)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("%s to %s: %w", remoting.CodeName(req.Code), addr, err)
			case resp.Code != remoting.ResSuccess:
				errs[i] = fmt.Errorf("%s to %s: %s %s", remoting.CodeName(req.Code), addr, remoting.ResponseCodeName(resp.Code), resp.Remark)
			}
			if resp != nil && onResp != nil {
				onResp(resp)
			}
			if resp != nil && resp.Release != nil {
				resp.Release()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RegisterLoop registers at once, then every RegisterNameServerPeriod and
// whenever a topic is created, changed or deleted, until stop is closed;
// then it unregisters from every name server and returns.
func (b *Broker) RegisterLoop(stop <-chan struct{}, client NamesrvClient) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	register := func() {
		if err := b.RegisterOnce(ctx, client); err != nil && ctx.Err() == nil {
			b.log.Warn("register broker failed", "err", err)
		}
	}
	register()
	tick := time.NewTicker(b.opts.RegisterNameServerPeriod)
	defer tick.Stop()
	// A slave that started before its master registered learns the
	// master's address only from a later registration: ask again every
	// 2 s until it knows, instead of waiting a whole period.
	lookup := time.NewTicker(2 * time.Second)
	defer lookup.Stop()
	for {
		select {
		case <-lookup.C:
			if b.isSlave() && b.MasterHAAddr() == "" {
				register()
			}
		case <-stop:
			uctx, ucancel := context.WithTimeout(context.Background(), 3*time.Second)
			if err := b.UnregisterOnce(uctx, client); err != nil {
				b.log.Warn("unregister broker failed", "err", err)
			}
			ucancel()
			return
		case <-tick.C:
			register()
		case <-b.registerNow:
			register()
		}
	}
}

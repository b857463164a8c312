// Package mqtt is Gannet's MQTT front end (3.1.1 and 5.0, TCP, WebSocket,
// TLS) on github.com/mochi-mqtt/server/v2, with every message stored in the
// engine so that MQTT devices and RocketMQ clients share the same data.
//
// mochi parses packets, runs the session state machine and answers
// protocol errors; a hook (hooks.go) takes over where messages are kept:
//
//	PUBLISH ──OnPublish──▶ engine.Append (waits: the PUBACK means stored)
//	          returns CodeSuccessIgnore: mochi acks, but neither retains
//	          nor fans the packet out in memory
//
//	dispatcher ──Notify──▶ feeds (feed.go): each session, and each shared
//	          subscription, reads the ConsumeQueues its filters can match
//	          from its own position and writes PUBLISHes to the connection,
//	          at most a receive-maximum window un-acknowledged
//
//	PUBACK/PUBCOMP ──OnPacketRead──▶ the feed's position moves on
//
// Topic mapping (mapping.go): the first level of an MQTT topic names the
// RocketMQ topic, created on first use; the full MQTT topic, QoS, retain
// flag, publisher and MQTT 5 properties are message properties (MQTT_*),
// the second level is the RocketMQ tag. A message from a RocketMQ producer
// reaches MQTT subscribers as <topic>/<tag>, or under the MQTT_TOPIC it
// names.
//
// State on disk, under <store root>/mqtt: sessions/<hash>.json per
// persistent session (session.go) and retained.json (retained.go), both
// replaced atomically; positions of shared subscriptions are RocketMQ
// consumer offsets (MQTT_SHARE_<name>). docs/mqtt.md is the user's view.
package mqtt

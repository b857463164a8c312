// Package e2e holds Gannet's end-to-end tests of the RocketMQ front end over
// real sockets. Each test starts a name server and a broker in-process
// (protocols/rocketmq/server, the same wiring `gannet standalone` uses) on
// 127.0.0.1, with the store in a temporary directory, and speaks the
// remoting protocol to them with the Go remoting client, or with raw TCP
// bytes where the point is a malformed frame:
//
//	c := startCluster(t, "messageDelayLevel=100ms 300ms 500ms")
//	resp := c.call(remoting.ReqSendMessage, sendExt(...), body)
//	recs := c.pull("g", "topic", 0, 0, "*")
//
// The engine is looked at only to inspect (Broker.Store), never to make a
// result happen. Every wait is bounded. Apart from this file the package is
// test files only.
package e2e

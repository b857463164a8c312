// Package interop holds Gannet's real-client interoperability tests for the
// RocketMQ remoting front end.
//
// The tests build the gannet binary, start `gannet standalone` (name server and
// broker) on loopback ports, and drive it with the ali-ons npm package, a pure
// JavaScript RocketMQ remoting client, through the Node scripts in scripts/.
// README.md in this folder describes how to run them and lists what ali-ons
// expects of a broker.
package interop

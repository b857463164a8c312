// Package protocols holds Gannet's front ends: the RocketMQ remoting protocol
// (name server and broker) and MQTT. Each front end lives in its own
// sub-package and reaches storage only through package engine.
//
// Not built yet.
package protocols

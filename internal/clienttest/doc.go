// Package clienttest holds what the real-client interoperability tests
// share (protocols/mqtt/interop, protocols/rocketmq/interop): installing the
// npm packages their package-lock.json pins, running a Node script with a
// bound on each step and reading the JSON lines it prints, and the small
// helpers around that (bounded commands, free ports, log tails).
package clienttest

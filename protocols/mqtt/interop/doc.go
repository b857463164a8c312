// Package interop holds Gannet's real-client interoperability tests for the
// MQTT front end.
//
// The tests start a name server, a broker and the MQTT front end in process
// on random loopback ports and drive them with clients nobody here wrote:
// mqtt.js (the `mqtt` npm package, MQTT 3.1.1 and 5) for the MQTT cases, and
// ali-ons (a pure JavaScript RocketMQ client) for the cross-protocol ones,
// through the Node scripts in scripts/. package.json and package-lock.json
// pin both; `make interop-deps` installs them with npm ci, and the tests run
// npm ci themselves when node_modules is missing or stale.
//
// Run: go test -race ./protocols/mqtt/interop/ (INTEROP_VERBOSE=1 for the
// clients' own logs on stderr).
package interop

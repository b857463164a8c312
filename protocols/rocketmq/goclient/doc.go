// Package goclient holds Gannet's interoperability tests with the official
// Apache RocketMQ Go client, github.com/apache/rocketmq-client-go/v2
// (v2.1.2, its latest release).
//
// Each test starts a name server and a broker in-process
// (protocols/rocketmq/server, the wiring `gannet standalone` uses) on
// 127.0.0.1 free ports with the store in a temporary directory, and drives
// them with the Go client's producer and push consumer as an application
// would: a passthrough name-server resolver, SendSync, SendAsync, batch
// sends, clustering push consumers with tag selectors, ConsumeRetryLater
// and delay levels. Every wait is bounded.
//
// The clients run in child processes: the test binary starts itself again
// with a job in an environment variable (driver_test.go) and reads what
// happened from the child's stdout, one JSON event a line. The Go client
// v2.1.2 has data races of its own (apache/rocketmq-client-go#961, fixed
// only after the release), which would fail a race-enabled test binary
// that hosted it; in a child they are logged instead, while the broker and
// name server stay in the race-checked test process. A child exits after
// shutting its client down cleanly.
//
// Apart from this file the package is test files only.
package goclient

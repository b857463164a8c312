// Package config owns broker.properties: the Broker struct with the keys of
// RocketMQ's BrokerConfig, NettyServerConfig and MessageStoreConfig that
// Gannet uses (protocol doc §5.3, §5.10) and Gannet's own (mqttListenAddr,
// httpAddr, writeMode), their defaults, a reader of Java properties files,
// command-line overrides, validation, the -p printout, and the mapping of
// the store keys onto engine.Options. It reads no flags and no files
// other than the one Load is given; cmd/ decides where they come from.
//
//	b, warnings, err := config.Load(path) // or config.Default()
//	for _, w := range warnings {
//		logger.Warn("broker.properties", "issue", w.String()) // unknown keys
//	}
//	for _, kv := range overrides {
//		err = b.Set(kv.Key, kv.Value) // same checks as the file
//	}
//	err = b.Validate() // checks between keys, after every override
//	if printConfig {
//		b.Print(os.Stdout) // key=value sorted by key; Parse reads it back
//	}
//	opts := b.EngineOptions()
//	opts.Logger = logger
//	store, err := engine.Open(opts)
//
// Parsing follows java.util.Properties.load (comments with # and !,
// key=value, key: value and key value, continuation lines, \uXXXX escapes)
// but reads UTF-8 and trims trailing white space. Where Java ignores a
// value it cannot parse and keeps the default, Parse fails: every invalid
// value is reported at once with its line, and so are values that do not
// fit together (a master with brokerId > 0, a slave with brokerId 0). Keys
// are case-sensitive as in Java; a key Gannet does not know is a warning.
//
// Durations are written in milliseconds, as the Java keys are, and held as
// time.Duration. haListenPort, brokerIP2 and storePathCommitLog follow
// listenPort+1, brokerIP1 and <storePathRootDir>/commitlog unless given.
package config

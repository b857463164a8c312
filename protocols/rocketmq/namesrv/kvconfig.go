package namesrv

import "sync"

// namespaceOrderTopicConfig is the KV namespace whose table the name server
// returns to brokers in REGISTER_BROKER responses (NamesrvUtil).
const namespaceOrderTopicConfig = "ORDER_TOPIC_CONFIG"

// kvConfig is the name server's namespace → key → value store
// (KVConfigManager). It lives in memory only: the Java name server also
// writes it to kvConfig.json, which nothing on a normal client or broker
// path depends on.
type kvConfig struct {
	mu    sync.RWMutex                 // guards table
	table map[string]map[string]string // namespace → key → value
}

func newKVConfig() *kvConfig {
	return &kvConfig{table: make(map[string]map[string]string)}
}

func (kv *kvConfig) put(namespace, key, value string) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	m := kv.table[namespace]
	if m == nil {
		m = make(map[string]string)
		kv.table[namespace] = m
	}
	m[key] = value
}

func (kv *kvConfig) get(namespace, key string) (string, bool) {
	kv.mu.RLock()
	defer kv.mu.RUnlock()
	v, ok := kv.table[namespace][key]
	return v, ok
}

func (kv *kvConfig) delete(namespace, key string) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	m := kv.table[namespace]
	delete(m, key)
	if len(m) == 0 {
		delete(kv.table, namespace)
	}
}

// list returns a copy of one namespace; ok is false when it is absent.
func (kv *kvConfig) list(namespace string) (map[string]string, bool) {
	kv.mu.RLock()
	defer kv.mu.RUnlock()
	m, ok := kv.table[namespace]
	if !ok {
		return nil, false
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c, true
}

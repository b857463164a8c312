package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gannetmq/gannet/engine"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gannet-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// TestTLSAndWebSocket: a client over TLS publishes, a subscriber over
// WebSocket (TLS too: one certificate serves both listeners) receives
// it; a plain-text client cannot talk to the TLS port.
func TestTLSAndWebSocket(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	e := startEnv(t, engine.AsyncFlush, func(o *Options) {
		o.WSAddr = "127.0.0.1:0"
		o.TLSCert, o.TLSKey = certPath, keyPath
	})
	if e.srv.WSAddr() == nil {
		t.Fatal("no WebSocket listener")
	}
	tlsConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	connect := func(url, id string) paho.Client {
		o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetTLSConfig(tlsConf)
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", url, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		return c
	}
	sub := connect("wss://"+e.srv.WSAddr().String(), "ws-sub")
	box := newInbox()
	await(t, sub.Subscribe("secure/#", 1, box.handler), "subscribe over WebSocket")
	pub := connect("ssl://"+e.addr, "tls-pub")
	for i := range 20 {
		await(t, pub.Publish("secure/room", 1, false, payloadOf(i)), "publish over TLS")
	}
	got := box.waitN(t, 20)
	for i, m := range got[:20] {
		if m.payload != payloadOf(i) || m.topic != "secure/room" {
			t.Fatalf("message %d over WebSocket: %+v", i, m)
		}
	}

	// Plain MQTT on the TLS port gets no CONNACK.
	o := paho.NewClientOptions().AddBroker("tcp://" + e.addr).SetClientID("plain").
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(2 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("a plain-text client connected to the TLS listener")
	}
}

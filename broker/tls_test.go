package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
)

// selfSigned writes a fresh self-signed certificate for 127.0.0.1 and its
// key to dir and returns their paths and a pool trusting it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stsfleet test broker"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
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
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	b := startBroker(t, func(c *broker.Config) {
		c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
	})
	if !strings.HasPrefix(b.URL(), "ssl://127.0.0.1:") {
		t.Fatalf("URL %q, want ssl://127.0.0.1:port", b.URL())
	}

	t.Run("trusted", func(t *testing.T) {
		o := meterOptions(b, transports[0], testDRN(1))
		o.TLSConfig = &tls.Config{RootCAs: pool}
		connect(t, o)
	})
	t.Run("untrusted", func(t *testing.T) {
		o := meterOptions(b, transports[0], testDRN(2))
		c, err := mqttc.Connect(ctxT(t), o)
		if err == nil {
			c.Disconnect(0)
			t.Fatal("connected without trusting the broker's certificate")
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("Connect: %v, want an unknown authority error", err)
		}
	})
	t.Run("plain TCP to the TLS port", func(t *testing.T) {
		o := meterOptions(b, transports[0], testDRN(3))
		o.Broker = "tcp://" + b.Addr()
		o.ConnectTimeout = time.Second
		if c, err := mqttc.Connect(ctxT(t), o); err == nil {
			c.Disconnect(0)
			t.Fatal("connected in plain text to the TLS listener")
		}
	})
}

package natsx

import (
	"context"
	"testing"
	"time"
)

// BenchmarkVendForwarder offers b.N vend events and waits until all are
// stored in JetStream, reporting events per second.
func BenchmarkVendForwarder(b *testing.B) {
	s, err := Start(Config{Port: RandomPort, StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	nc, err := Connect(ConnectConfig{URL: s.ClientURL()})
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	pub, err := NewVendPublisher(nc, 0)
	if err != nil {
		b.Fatal(err)
	}
	js := pub.js
	if _, err := EnsureStream(context.Background(), js, StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	fwd := NewVendForwarder(pub, ForwarderConfig{Queue: b.N + 1})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	began := time.Now()
	for i := range b.N {
		fwd.Offer(vendEvent(i))
	}
	go func() { done <- fwd.Run(ctx) }()
	for fwd.Stats().Published < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
	b.StopTimer()
	stop()
	<-done
}

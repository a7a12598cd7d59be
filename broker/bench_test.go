package broker_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/wire"
)

// BenchmarkConnect connects b.N meters through paho over the in-memory
// transport, each with its persistent session and token subscription, and
// keeps them connected: connects/s, and heap per meter for both ends.
func BenchmarkConnect(b *testing.B) {
	br := startBroker(b, func(c *broker.Config) { c.DisableTCP = true })
	clients := make([]*mqttc.Client, 0, b.N)
	defer func() {
		for _, c := range clients {
			c.Disconnect(0)
		}
	}()
	ctx := context.Background()
	heap, stack := memInUse()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		drn := testDRN(i)
		o := meterOptions(br, memory, drn)
		o.Subscriptions = []mqttc.Subscription{{Filter: wire.Topic(drn, wire.KindToken), QoS: 1,
			Handler: func(mqttc.Message) {}}}
		c, err := mqttc.Connect(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "connects/s")
	reportMem(b, heap, stack, b.N, "meter")
}

// BenchmarkConnectParallel connects meters 32 at a time, as a fleet ramping
// up does.
func BenchmarkConnectParallel(b *testing.B) {
	br := startBroker(b, func(c *broker.Config) { c.DisableTCP = true })
	var (
		mu      sync.Mutex
		clients []*mqttc.Client
		next    atomic.Int64
	)
	defer func() {
		for _, c := range clients {
			c.Disconnect(0)
		}
	}()
	ctx := context.Background()
	b.SetParallelism(32 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			drn := testDRN(int(next.Add(1)))
			c, err := mqttc.Connect(ctx, meterOptions(br, memory, drn))
			if err != nil {
				panic(err)
			}
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "connects/s")
}

// BenchmarkSessionMemory opens b.N sessions with bare CONNECT packets over
// the in-memory transport, so the heap growth is the broker's alone.
func BenchmarkSessionMemory(b *testing.B) {
	br := startBroker(b, func(c *broker.Config) { c.DisableTCP = true })
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx := context.Background()
	heap, stack := memInUse()
	b.ResetTimer()
	for i := range b.N {
		drn := testDRN(i)
		conn, err := br.Dial(ctx)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, conn)
		pk := connectPacket(drn, broker.MeterPassword(fleetSecret, drn))
		if _, err := conn.Write(pk); err != nil {
			b.Fatal(err)
		}
		ack := make([]byte, 4)
		if _, err := io.ReadFull(conn, ack); err != nil || ack[3] != 0 {
			b.Fatalf("CONNACK % x, %v", ack, err)
		}
	}
	b.StopTimer()
	reportMem(b, heap, stack, b.N, "session")
}

// connectPacket is an MQTT 3.1.1 CONNECT with a persistent session and a
// 60-second keep-alive.
func connectPacket(drn, password string) []byte {
	var body bytes.Buffer
	str := func(s string) {
		binary.Write(&body, binary.BigEndian, uint16(len(s)))
		body.WriteString(s)
	}
	str("MQTT")
	body.WriteByte(4)    // protocol level 3.1.1
	body.WriteByte(0xC0) // username, password; no clean session
	binary.Write(&body, binary.BigEndian, uint16(60))
	str(drn)
	str(drn)
	str(password)

	pk := []byte{0x10}
	for n := body.Len(); ; {
		digit := byte(n % 128)
		n /= 128
		if n > 0 {
			digit |= 0x80
		}
		pk = append(pk, digit)
		if n == 0 {
			break
		}
	}
	return append(pk, body.Bytes()...)
}

// memInUse returns the heap and goroutine stack memory in use after a GC.
func memInUse() (heap, stack int64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse), int64(m.StackInuse)
}

// reportMem reports the memory grown since before, per unit.
func reportMem(b *testing.B, heap, stack int64, n int, unit string) {
	h, s := memInUse()
	b.ReportMetric(float64(h-heap)/float64(n), "heap-B/"+unit)
	b.ReportMetric(float64(s-stack)/float64(n), "stack-B/"+unit)
}

// BenchmarkQoS1RoundTrip measures a delivery loop: the vendor publishes a
// QoS 1 token, the meter's handler hands it to the meter's goroutine, which
// publishes a QoS 1 result the vendor receives.
func BenchmarkQoS1RoundTrip(b *testing.B) {
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			br := startBroker(b, nil)
			ctx := context.Background()
			drn := testDRN(1)
			tokens := make(chan mqttc.Message, 16)
			o := meterOptions(br, tr, drn)
			o.Subscriptions = []mqttc.Subscription{{Filter: wire.Topic(drn, wire.KindToken), QoS: 1,
				Handler: func(m mqttc.Message) { tokens <- m }}}
			meter := connect(b, o)
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case m := <-tokens:
						if err := meter.Publish(ctx, wire.Topic(drn, wire.KindResult), 1, false,
							m.Payload); err != nil {
							panic(err)
						}
					case <-done:
						return
					}
				}
			}()

			results := make(chan mqttc.Message, 16)
			vendor := connect(b, vendorOptions(br, tr, "vendor-1"))
			if err := vendor.Subscribe(ctx, wire.SharedResultFilter, 1,
				func(m mqttc.Message) { results <- m }); err != nil {
				b.Fatal(err)
			}
			payload := bytes.Repeat([]byte("x"), 200)
			b.ResetTimer()
			for range b.N {
				if err := vendor.Publish(ctx, wire.Topic(drn, wire.KindToken), 1, false,
					payload); err != nil {
					b.Fatal(err)
				}
				<-results
			}
		})
	}
}

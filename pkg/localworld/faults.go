package localworld

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Faults are what a Region's Kinesis proxy does wrong to PutRecords and
// PutRecord requests, drawn from a generator seeded with Seed. Each request
// draws the same count of numbers whatever befalls it, so a client that
// sends its requests one at a time meets the same faults on every run with
// the same seed; concurrent clients meet them in arrival order. The zero
// value injects nothing.
type Faults struct {
	Seed uint64
	// RequestErrorRate is the fraction of requests answered HTTP 500
	// InternalFailure without being forwarded.
	RequestErrorRate float64
	// EntryErrorRate is the fraction of PutRecords entries answered
	// InternalFailure in their slot, not forwarded.
	EntryErrorRate float64
	// ResetRate is the fraction of requests whose connection is reset with
	// no answer: half of them (by the same generator) before forwarding,
	// so nothing was written, and half after, so the write happened and
	// the client cannot know it: a resend of it is a duplicate nobody
	// counted.
	ResetRate float64
	// StallRate is the fraction of requests whose answer is held for Stall
	// after the emulator gave it.
	StallRate float64
	Stall     time.Duration
}

func (f Faults) validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"RequestErrorRate", f.RequestErrorRate}, {"EntryErrorRate", f.EntryErrorRate}, {"ResetRate", f.ResetRate}, {"StallRate", f.StallRate}} {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("localworld: got faults %s %v, want 0 to 1", r.name, r.v)
		}
	}
	if f.Stall < 0 {
		return fmt.Errorf("localworld: got faults Stall %v, want zero or more", f.Stall)
	}
	return nil
}

func (f Faults) none() bool {
	return f.RequestErrorRate == 0 && f.EntryErrorRate == 0 && f.ResetRate == 0 && (f.StallRate == 0 || f.Stall == 0)
}

// faultPlan is what befalls one request.
type faultPlan struct {
	requestError bool
	resetBefore  bool
	resetAfter   bool
	stall        time.Duration
	// entryError[i] fails entry i in its slot; nil for none.
	entryError []bool
}

// faulter draws the faults of one Region's requests.
type faulter struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

func (fl *faulter) set(f Faults) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.f = f
	fl.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// plan draws the faults of a request of entries entries.
func (fl *faulter) plan(entries int) faultPlan {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	f := fl.f
	if f.none() || fl.rng == nil {
		return faultPlan{}
	}
	var p faultPlan
	requestError, reset, after, stall := fl.rng.Float64(), fl.rng.Float64(), fl.rng.Float64(), fl.rng.Float64()
	p.requestError = requestError < f.RequestErrorRate
	if reset < f.ResetRate {
		p.resetBefore, p.resetAfter = after < 0.5, after >= 0.5
	}
	if stall < f.StallRate {
		p.stall = f.Stall
	}
	if f.EntryErrorRate > 0 {
		p.entryError = make([]bool, entries)
		for i := range p.entryError {
			p.entryError[i] = fl.rng.Float64() < f.EntryErrorRate
		}
	}
	return p
}

// resetConnection closes the client's connection with a TCP reset and no
// answer, as a load balancer or a dying host does.
func resetConnection(rw http.ResponseWriter) {
	hj, ok := rw.(http.Hijacker)
	if !ok {
		// Not HTTP/1: the nearest thing is an answer the SDK retries.
		writeError(rw, Kinesis, http.StatusInternalServerError, "InternalFailure", "localworld: connection reset")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN
	}
	_ = conn.Close()
}

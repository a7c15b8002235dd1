package localworld

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// stamp is a write's time: the writing replica's clock when the write's
// response came back, strictly increasing per replica. Equal times, which
// only a coarse clock makes, are ordered by replica so both replicas pick
// the same winner.
type stamp struct {
	nanos  int64
	region int
}

func (s stamp) after(o stamp) bool {
	return s.nanos > o.nanos || s.nanos == o.nanos && s.region > o.region
}

// replica is one Region's DynamoDB: its emulator and, per item, the stamp of
// the last write it holds, which decides last-writer-wins.
type replica struct {
	index int
	url   string

	// mu serialises this replica's writes: a local write with its
	// read-back and stamp, or one replicated write with its LWW check.
	mu        sync.Mutex
	clock     int64
	lastWrite map[string]map[string]stamp // table → key id → stamp
	// writes counts the item writes this Region's clients made here that
	// succeeded (replicated writes from the other Region not included).
	writes int64
}

// tick returns the stamp of a write that just came back. The clock also
// never falls behind a replicated write already applied here, so a write
// made after seeing another is later than it.
func (r *replica) tick(now time.Time) stamp {
	r.clock = max(now.UnixNano(), r.clock+1)
	return stamp{nanos: r.clock, region: r.index}
}

func (r *replica) setLastWrite(table, id string, s stamp) {
	byKey := r.lastWrite[table]
	if byKey == nil {
		byKey = make(map[string]stamp)
		r.lastWrite[table] = byKey
	}
	byKey[id] = s
	r.clock = max(r.clock, s.nanos)
}

// event is one write on its way to the other replica.
type event struct {
	change
	stamp stamp
	due   time.Time // the write's time plus the delay in force then
}

// link carries one replica's writes into the other, in the order they were
// made.
type link struct {
	from, to *replica

	mu       sync.Mutex
	queue    []*event
	paused   bool
	enqueued uint64 // writes queued so far
	settled  uint64 // of those, applied or discarded
	kick     chan struct{}
	progress chan struct{} // closed and replaced whenever settled grows

	// applyMu is held while one replicated write is checked and applied,
	// so Pause and Hang can wait out the one in flight.
	applyMu sync.Mutex
}

func newLink(from, to *replica) *link {
	return &link{from: from, to: to, kick: make(chan struct{}, 1), progress: make(chan struct{})}
}

func (l *link) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *link) enqueue(e *event) {
	l.mu.Lock()
	l.queue = append(l.queue, e)
	l.enqueued++
	l.mu.Unlock()
	l.wake()
}

func (l *link) setPaused(p bool) {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	l.mu.Lock()
	l.paused = p
	l.mu.Unlock()
	l.wake()
}

// waitIdle returns once no replicated write is being applied.
func (l *link) waitIdle() {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
}

// head returns the next write to deliver, or nil while there is none or the
// link is paused.
func (l *link) head() *event {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused || len(l.queue) == 0 {
		return nil
	}
	return l.queue[0]
}

// replicate is the link's loop: for the oldest queued write, once it is due,
// the link is not paused and the target Region answers, apply it, then move
// on. It ends when the world closes.
func (w *World) replicate(l *link) {
	target := w.gates[l.to.index]
	for {
		e := l.head()
		if e == nil {
			select {
			case <-w.ctx.Done():
				return
			case <-l.kick:
			}
			continue
		}
		if wait := time.Until(e.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-w.ctx.Done():
				t.Stop()
				return
			case <-l.kick:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		select {
		case <-w.ctx.Done():
			return
		case <-l.kick:
			continue
		case <-target.opened():
		}
		if !w.deliverHead(l, target) {
			return
		}
	}
}

// deliverHead applies the head of the queue unless, since replicate looked,
// the link was paused or the target hung. It reports false once the world
// is closed.
func (w *World) deliverHead(l *link, target *gate) bool {
	l.applyMu.Lock()
	defer l.applyMu.Unlock()
	e := l.head()
	if e == nil || !target.isOpen() {
		return true
	}
	err := w.apply(l.to, e)
	if w.ctx.Err() != nil {
		return false
	}
	if err != nil {
		w.recordFailure(fmt.Errorf("replicate a write of %s from %s to %s: %w", e.table, w.regions[l.from.index], w.regions[l.to.index], err))
	}
	l.mu.Lock()
	l.queue[0] = nil
	l.queue = l.queue[1:]
	l.settled++
	close(l.progress)
	l.progress = make(chan struct{})
	l.mu.Unlock()
	return true
}

// apply writes e into replica to, straight to its emulator (not through its
// proxy, which would replicate it back), unless to already holds a later
// write of the item: last writer wins.
func (w *World) apply(to *replica, e *event) error {
	to.mu.Lock()
	defer to.mu.Unlock()
	if last, ok := to.lastWrite[e.table][e.id]; ok && !e.stamp.after(last) {
		return nil
	}
	var err error
	if e.item != nil {
		err = w.call(w.ctx, to.url, "PutItem", map[string]any{"TableName": e.table, "Item": e.item}, nil)
	} else {
		err = w.call(w.ctx, to.url, "DeleteItem", map[string]any{"TableName": e.table, "Key": e.key}, nil)
	}
	if isResourceNotFound(err) {
		return nil // the table is gone from this replica, and the write with it
	}
	if err != nil {
		return err
	}
	to.setLastWrite(e.table, e.id, e.stamp)
	return nil
}

// WaitReplicated returns once every write made so far has been applied in
// the other replica or lost to a later write there, so a test can look at a
// settled world. It waits through pauses and hangs, so ctx should bound it.
// It also reports writes the world failed to replicate.
func (w *World) WaitReplicated(ctx context.Context) error {
	var want [2]uint64
	for i, l := range w.links {
		l.mu.Lock()
		want[i] = l.enqueued
		l.mu.Unlock()
	}
	for i, l := range w.links {
		for {
			l.mu.Lock()
			settled, progress := l.settled, l.progress
			l.mu.Unlock()
			if settled >= want[i] {
				break
			}
			select {
			case <-progress:
			case <-w.ctx.Done():
				return fmt.Errorf("wait for replication: %w", errClosed)
			case <-ctx.Done():
				return fmt.Errorf("wait for replication: %d writes from %s to %s still pending: %w",
					want[i]-settled, w.regions[i], w.regions[1-i], ctx.Err())
			}
		}
	}
	if err := w.failures(); err != nil {
		return fmt.Errorf("localworld: replication failed: %w", err)
	}
	return nil
}

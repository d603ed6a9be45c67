// Package wal is scyllaemu's write-ahead log: an append-only file of
// checksummed records with group commit, so that a write is on disk before
// the emulator acknowledges it.
//
// Durability policy. Append buffers a record in memory (under the caller's
// lock, which orders records like the writes they describe); Commit writes
// every buffered record with one write(2) before the caller answers its
// client. A write the client saw acknowledged is therefore in the
// operating system's page cache and survives kill -9 of the emulator. By
// default the file is fsynced once a second, so a machine crash or power
// loss can lose up to a second of acknowledged writes; with FsyncAlways,
// Commit also fsyncs (group commit: one fsync covers every client waiting
// at that moment) and acknowledged writes survive power loss too.
//
// File format: records back to back, each a little-endian uint32 payload
// length, a little-endian uint32 CRC-32C of the payload, and the payload.
// A crash in the middle of a write leaves a torn last record, which Open
// detects (short read or checksum mismatch) and cuts off.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// FileName is the log's file name inside the data directory.
const FileName = "scyllaemu.wal"

const headerSize = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrLocked is returned by Open when another process uses the directory.
var ErrLocked = errors.New("wal: data directory is in use by another process")

// Options configure a Log.
type Options struct {
	// FsyncAlways makes Commit fsync before returning.
	FsyncAlways bool
	// FsyncInterval is how often the background loop fsyncs otherwise;
	// default one second.
	FsyncInterval time.Duration
}

// Log is an open write-ahead log. Append, Commit and Close are safe for
// concurrent use.
type Log struct {
	f    *os.File
	lock *os.File
	opts Options

	mu       sync.Mutex
	buf      []byte
	appended uint64

	flushMu sync.Mutex
	written uint64 // guarded by flushMu
	synced  uint64 // guarded by flushMu
	err     error  // sticky write error, guarded by flushMu

	stop chan struct{}
	done chan struct{}
}

// Open opens (creating it if needed) the log in dir, calls replay with each
// intact record's payload in order, cuts off a torn tail, and returns the
// log ready for appends. replay must not keep the slice it is given.
func Open(dir string, opts Options, replay func(payload []byte) error) (*Log, error) {
	if opts.FsyncInterval <= 0 {
		opts.FsyncInterval = time.Second
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	f, err := openLocked(dir, lock, replay)
	if err != nil {
		// The lock file holds no data (closing it drops the flock), so
		// the error worth reporting is the one that made Open fail.
		_ = lock.Close()
		return nil, err
	}
	l := &Log{f: f, lock: lock, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	go l.fsyncLoop()
	return l, nil
}

// openLocked takes the directory's lock, opens the log file, replays it and
// leaves it positioned after its last intact record.
func openLocked(dir string, lock *os.File, replay func([]byte) error) (*os.File, error) {
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("%w (%s): %v", ErrLocked, dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	end, err := scan(f, replay)
	if err == nil {
		// Cut a torn tail so the next record starts on a boundary.
		if err = f.Truncate(end); err == nil {
			_, err = f.Seek(end, io.SeekStart)
		}
		if err != nil {
			err = fmt.Errorf("wal: %w", err)
		}
	}
	if err != nil {
		// Nothing was written through f yet (a truncation is already
		// done or not), so closing it cannot lose data.
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// scan replays the intact records of f and returns the offset after the
// last one.
func scan(f *os.File, replay func([]byte) error) (int64, error) {
	r := io.Reader(f)
	var off int64
	var hdr [headerSize]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, nil // end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if int64(n) > 1<<31 {
			return off, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return off, nil // torn payload
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			return off, nil
		}
		if err := replay(payload); err != nil {
			return off, fmt.Errorf("wal: replaying the record at offset %d: %w", off, err)
		}
		off += headerSize + int64(n)
	}
}

// Append buffers one record and returns its sequence number, for Commit.
func (l *Log) Append(payload []byte) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, castagnoli))
	l.buf = append(l.buf, hdr[:]...)
	l.buf = append(l.buf, payload...)
	l.appended++
	return l.appended
}

// Appended is the sequence number of the last record appended.
func (l *Log) Appended() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appended
}

// Commit returns once every record up to seq is written to the file (and
// fsynced, with FsyncAlways). Callers arriving together share one write.
// A write error is sticky: the log refuses every later commit.
func (l *Log) Commit(seq uint64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.err != nil {
		return l.err
	}
	if l.written < seq {
		l.mu.Lock()
		buf, upto := l.buf, l.appended
		l.buf = nil
		l.mu.Unlock()
		if _, err := l.f.Write(buf); err != nil {
			l.err = fmt.Errorf("wal: write: %w", err)
			return l.err
		}
		l.written = upto
	}
	if l.opts.FsyncAlways && l.synced < seq {
		return l.syncLocked()
	}
	return nil
}

func (l *Log) syncLocked() error {
	if err := l.f.Sync(); err != nil {
		l.err = fmt.Errorf("wal: fsync: %w", err)
		return l.err
	}
	l.synced = l.written
	return nil
}

func (l *Log) fsyncLoop() {
	defer close(l.done)
	t := time.NewTicker(l.opts.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flushMu.Lock()
			if l.err == nil && l.synced < l.written {
				_ = l.syncLocked() // sticky; the next Commit reports it
			}
			l.flushMu.Unlock()
		}
	}
}

// Close writes and fsyncs what is buffered and closes the file.
func (l *Log) Close() error {
	close(l.stop)
	<-l.done
	err := l.Commit(l.Appended())
	l.flushMu.Lock()
	if err == nil && l.synced < l.written {
		err = l.syncLocked()
	}
	l.flushMu.Unlock()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

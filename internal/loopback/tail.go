package loopback

import "sync"

// Tail keeps the last 64 KiB written to it: a server's console log,
// to show when it failed.
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 64 << 10

func (b *Tail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailMax {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (b *Tail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

package core

import (
	"fmt"
	"time"
)

// UserID, NetworkID and ConversationID are the store's keys.
type (
	UserID         int64
	NetworkID      int64
	ConversationID int64
)

// MessageID is the server's id for a stored message. Its high bits are the
// Unix time in milliseconds at which the server stored the message and its
// low 16 bits a sequence number, so ids sort by archive time and are unique
// within one store. It is at once the XEP-0359 stanza-id, the MAM id, the
// HTTP cursor and the SQLite rowid, which lets full-text search walk the
// index in time order and stop early.
type MessageID int64

const messageIDSeqBits = 16

// MessageIDAt returns the smallest id the store could assign at t.
func MessageIDAt(t time.Time) MessageID {
	return MessageID(t.UnixMilli() << messageIDSeqBits)
}

// NextMessageID returns the id to assign after last at time now: time based,
// and strictly increasing even if the clock steps back.
func NextMessageID(last MessageID, now time.Time) MessageID {
	if at := MessageIDAt(now); at > last {
		return at
	}
	return last + 1
}

// Time returns when the message was stored, to the millisecond.
func (id MessageID) Time() time.Time {
	return time.UnixMilli(int64(id) >> messageIDSeqBits)
}

// messageIDAlphabet is Crockford's base32, which sorts like the numbers it
// encodes and avoids letters that read alike.
const messageIDAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// messageIDLen digits of 5 bits hold the 63 bits of a positive int64.
const messageIDLen = 13

// String encodes id as 13 base32 characters; the encodings sort in the same
// order as the ids, so clients may compare them as strings.
func (id MessageID) String() string {
	var b [messageIDLen]byte
	v := uint64(id)
	for i := messageIDLen - 1; i >= 0; i-- {
		b[i] = messageIDAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// ParseMessageID decodes the form String produces. Lower case is accepted.
func ParseMessageID(s string) (MessageID, error) {
	if len(s) != messageIDLen {
		return 0, fmt.Errorf("message id %q: want %d characters, got %d", s, messageIDLen, len(s))
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := base32Digit(s[i])
		if d < 0 {
			return 0, fmt.Errorf("message id %q: invalid character %q at %d", s, s[i], i)
		}
		v = v<<5 | uint64(d)
	}
	// 13 digits carry 65 bits; the top two must be clear for an int64 > 0.
	if s[0] > '7' || v == 0 {
		return 0, fmt.Errorf("message id %q: out of range", s)
	}
	return MessageID(v), nil
}

func base32Digit(c byte) int {
	if 'a' <= c && c <= 'z' {
		c -= 'a' - 'A'
	}
	for i := 0; i < len(messageIDAlphabet); i++ {
		if messageIDAlphabet[i] == c {
			return i
		}
	}
	return -1
}

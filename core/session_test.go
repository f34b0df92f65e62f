package core

import "testing"

// TestGiveBackReusesTheQueue: after a Take, the queue handed back keeps
// the next events in the same array, in order; a long burst's array is
// not kept, and an array handed back holds no event any more.
func TestGiveBackReusesTheQueue(t *testing.T) {
	s := newSession(nil, 1, 1, "phone")
	typing := func(i int) Event { return TypingEvent{User: 1, Network: NetworkID(i)} }
	for i := range 3 {
		s.push(typing(i), 1024)
	}
	first, err := s.Take()
	if err != nil || len(first) != 3 {
		t.Fatalf("took %d events, %v; want 3", len(first), err)
	}
	array := &first[:cap(first)][0]
	s.GiveBack(first)
	if first[:cap(first)][0] != nil {
		t.Error("an array handed back still holds an event")
	}
	s.push(typing(10), 1024)
	s.push(typing(11), 1024)
	second, _ := s.Take()
	if len(second) != 2 || second[0].(TypingEvent).Network != 10 || second[1].(TypingEvent).Network != 11 {
		t.Fatalf("took %v, want the events of networks 10 and 11 in order", second)
	}
	if &second[0] != array {
		t.Error("the events after a GiveBack went to a new array")
	}
	s.GiveBack(second)

	for i := range spareMax + 1 {
		s.push(typing(i), 1024)
	}
	burst, _ := s.Take()
	s.GiveBack(burst)
	s.push(typing(0), 1024)
	if next, _ := s.Take(); &next[0] == &burst[0] {
		t.Errorf("a burst's array of %d was kept", cap(burst))
	}
}
